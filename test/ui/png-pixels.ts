/** Pixel counting on screenshots: a chart that rendered has many pixels of its series colour. */
import { PNG } from 'pngjs';

/** '#2563eb' → [37, 99, 235] */
export function hexToRgb(hex: string): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) throw new Error(`expected a #rrggbb colour, got "${hex}"`);
  return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
}

export interface PixelCount {
  total: number;
  /** Pixels within `tolerance` of the colour on every channel (anti-aliased edges fall outside). */
  matching: number;
  /** Pixels that differ from the top-left pixel (the background). */
  nonBackground: number;
}

export function countPixels(png: Buffer, hex: string, tolerance = 24): PixelCount {
  const img = PNG.sync.read(png);
  const [r, g, b] = hexToRgb(hex);
  const d = img.data;
  const [br, bg, bb] = [d[0], d[1], d[2]];
  let matching = 0;
  let nonBackground = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.abs(d[i] - r) <= tolerance && Math.abs(d[i + 1] - g) <= tolerance && Math.abs(d[i + 2] - b) <= tolerance)
      matching++;
    if (d[i] !== br || d[i + 1] !== bg || d[i + 2] !== bb) nonBackground++;
  }
  return { total: img.width * img.height, matching, nonBackground };
}
