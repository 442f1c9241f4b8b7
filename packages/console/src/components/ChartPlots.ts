// The Recharts plots, as one chunk loaded with the first chart: Recharts is most of the console's weight,
// and pages without charts (overview, jobs list, rule sets) need none of it.
export { BarPlot } from './BarPlot';
export { LinePlot } from './LinePlot';
