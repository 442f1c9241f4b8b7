/**
 * A Kubernetes MicroTime (RFC 3339 with exactly six fractional digits), for the Lease and Event
 * fields that need one: the API server refuses the millisecond form a Date serializes to.
 */
export function microTime(date: Date): Date {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}
