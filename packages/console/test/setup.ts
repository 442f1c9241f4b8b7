import { cleanup } from '@testing-library/react';
import { afterEach, vi } from 'vitest';
import { authStore } from '../src/api/token';

// jsdom lays nothing out: every element measures 0 × 0 and there is no ResizeObserver, so Recharts'
// ResponsiveContainer would draw nothing. Give chart containers a laptop-sized box and a ResizeObserver
// that reports it once. Plain assignments, not vi.stubGlobal: the afterEach below unstubs globals.
const CHART_BOX = { width: 640, height: 240 };

class FixedSizeResizeObserver implements ResizeObserver {
  readonly #callback: ResizeObserverCallback;
  constructor(callback: ResizeObserverCallback) {
    this.#callback = callback;
  }
  observe(target: Element): void {
    const contentRect = target.getBoundingClientRect();
    this.#callback([{ target, contentRect } as ResizeObserverEntry], this);
  }
  unobserve(): void {}
  disconnect(): void {}
}
globalThis.ResizeObserver = FixedSizeResizeObserver;

const measure = HTMLElement.prototype.getBoundingClientRect;
HTMLElement.prototype.getBoundingClientRect = function getBoundingClientRect(this: HTMLElement): DOMRect {
  if (!this.classList.contains('recharts-responsive-container')) return measure.call(this);
  // The container's height is set by the chart (a number of pixels); its width follows the page.
  const height = Number.parseFloat(this.style.height) || CHART_BOX.height;
  return DOMRect.fromRect({ width: CHART_BOX.width, height });
};

// Vitest globals are off, so Testing Library cannot register its own cleanup.
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  window.localStorage.clear();
  authStore.reset();
  window.location.hash = '';
});
