// Driving data for driver identification: 15 CAN-bus signals per row, windows of 40 rows, and
// 10 drivers. The generator simulates each driver's habits (cruising speed, how hard they
// accelerate and brake, how smoothly they steer, when they shift) so windows of different
// drivers differ the way real logs do; the CSV loader reads real logs with the same columns.
import { BadInputError } from '../_shared/errors.js';
import { seededRandom, type Random } from '../_shared/data/random.js';

/** The CAN-bus signals of one row, in column order. */
export const FEATURES = [
  'speed_kmh',
  'engine_rpm',
  'throttle_pct',
  'accel_pedal_pct',
  'brake_pressure_bar',
  'steering_angle_deg',
  'steering_rate_dps',
  'long_accel_ms2',
  'lat_accel_ms2',
  'yaw_rate_dps',
  'gear',
  'engine_torque_nm',
  'fuel_rate_lph',
  'intake_pressure_kpa',
  'coolant_temp_c',
] as const;

export const FEATURE_COUNT = FEATURES.length;
/** Rows per window: what one classification looks at. */
export const WINDOW_ROWS = 40;
export const DRIVERS = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J'] as const;

/** Windows of rows with a driver index each: x is [n, WINDOW_ROWS, FEATURE_COUNT] row-major. */
export interface DrivingWindows {
  readonly x: Float32Array;
  readonly y: Uint8Array;
  readonly n: number;
}

interface Habits {
  cruise: number;
  speedJitter: number;
  aggression: number;
  brakeForce: number;
  steerSmooth: number;
  steerAmp: number;
  shiftRpm: number;
  throttleBias: number;
  coolant: number;
}

/** Each driver's habits, drawn once from a fixed seed so every process sees the same ten people. */
function driverHabits(seed = 20_200_064): Habits[] {
  const r = seededRandom(seed);
  return DRIVERS.map((_, d) => ({
    cruise: 35 + d * 8 + r() * 4,
    speedJitter: 0.5 + r() * 2.5,
    aggression: 0.2 + ((d * 7) % 10) * 0.12 + r() * 0.05,
    brakeForce: 4 + ((d * 3) % 10) * 2.2,
    steerSmooth: 0.6 + ((d * 9) % 10) * 0.035,
    steerAmp: 3 + ((d * 13) % 10) * 1.6,
    shiftRpm: 1700 + ((d * 11) % 10) * 190,
    throttleBias: 8 + ((d * 17) % 10) * 2.5,
    coolant: 84 + ((d * 19) % 10) * 1.1,
  }));
}

const GEAR_RATIO = [0, 95, 58, 40, 31, 25, 21] as const;

/** Simulates one window of a driver into `out` at `offset` (WINDOW_ROWS × FEATURE_COUNT values). */
function simulateWindow(h: Habits, r: Random, out: Float32Array, offset: number): void {
  let speed = Math.max(5, h.cruise + gauss(r) * 10);
  let accel = 0;
  let steer = gauss(r) * h.steerAmp;
  let gear = 1;
  for (let t = 0; t < WINDOW_ROWS; t += 1) {
    const pull = (h.cruise - speed) * 0.05;
    accel = 0.6 * accel + 0.4 * (pull + gauss(r) * h.aggression * 2);
    speed = Math.max(0, speed + accel * 3.6 + gauss(r) * h.speedJitter * 0.3);
    const steerTarget = gauss(r) * h.steerAmp;
    const steerNext = h.steerSmooth * steer + (1 - h.steerSmooth) * steerTarget;
    const steerRate = steerNext - steer;
    steer = steerNext;
    while (gear < 6 && (speed * GEAR_RATIO[gear]!) / 2 > h.shiftRpm) gear += 1;
    while (gear > 1 && (speed * GEAR_RATIO[gear]!) / 2 < h.shiftRpm * 0.55) gear -= 1;
    const rpm = Math.max(750, (speed * GEAR_RATIO[gear]!) / 2 + gauss(r) * 40);
    const throttle = clamp(h.throttleBias + Math.max(0, accel) * 25 * (1 + h.aggression) + gauss(r) * 2, 0, 100);
    const pedal = clamp(throttle * 1.08 + gauss(r) * 1.5, 0, 100);
    const brake = accel < -0.15 ? -accel * h.brakeForce + Math.abs(gauss(r)) : 0;
    const lat = (speed / 3.6) * (steer * 0.0035) + gauss(r) * 0.05;
    const yaw = speed > 1 ? (lat / (speed / 3.6)) * 57.3 : 0;
    const torque = 20 + throttle * 2.4 + gauss(r) * 4;
    const fuel = 0.4 + (torque * rpm) / 60_000 + gauss(r) * 0.05;
    const intake = 30 + throttle * 0.7 + gauss(r) * 1.5;
    const coolant = h.coolant + gauss(r) * 0.3;
    const row = [
      speed,
      rpm,
      throttle,
      pedal,
      brake,
      steer,
      steerRate * 10,
      accel,
      lat,
      yaw,
      gear,
      torque,
      fuel,
      intake,
      coolant,
    ];
    out.set(row, offset + t * FEATURE_COUNT);
  }
}

/** Generates `perDriver` windows of each of the 10 drivers, interleaved, from a seed. */
export function generateDrivingWindows(perDriver: number, seed: number): DrivingWindows {
  const habits = driverHabits();
  const r = seededRandom(seed);
  const n = perDriver * DRIVERS.length;
  const x = new Float32Array(n * WINDOW_ROWS * FEATURE_COUNT);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i += 1) {
    const d = i % DRIVERS.length;
    y[i] = d;
    simulateWindow(habits[d]!, r, x, i * WINDOW_ROWS * FEATURE_COUNT);
  }
  return { x, y, n };
}

/** A stream of rows from one driver (what the edge client sends), `windows` windows long. */
export function generateDriverRows(driver: number, windows: number, seed: number): number[][] {
  const habits = driverHabits()[driver];
  if (habits === undefined) throw new BadInputError(`driver index ${driver} is outside 0..${DRIVERS.length - 1}`);
  const r = seededRandom(seed);
  const buf = new Float32Array(WINDOW_ROWS * FEATURE_COUNT);
  const rows: number[][] = [];
  for (let w = 0; w < windows; w += 1) {
    simulateWindow(habits, r, buf, 0);
    for (let t = 0; t < WINDOW_ROWS; t += 1)
      rows.push(Array.from(buf.subarray(t * FEATURE_COUNT, (t + 1) * FEATURE_COUNT)));
  }
  return rows;
}

/**
 * Reads a CSV of driving logs with a header naming the 15 feature columns (any order, extra
 * columns ignored) and a `driver` column (A..J or 0..9). Consecutive rows of one driver are cut
 * into windows of 40; a leftover shorter than a window is dropped.
 */
export function parseDrivingCsv(text: string): DrivingWindows {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines.shift() ?? '').split(',').map((h) => h.trim().toLowerCase());
  const columns = FEATURES.map((f) => {
    const at = header.indexOf(f);
    if (at < 0)
      throw new BadInputError(`driving CSV lacks the column ${f}; it needs ${FEATURES.join(', ')} and driver`);
    return at;
  });
  const driverAt = header.indexOf('driver');
  if (driverAt < 0) throw new BadInputError('driving CSV lacks the column driver');
  const windows: number[] = [];
  const labels: number[] = [];
  let run: number[] = [];
  let runDriver = -1;
  lines.forEach((line, i) => {
    const cells = line.split(',');
    const driver = driverIndex(cells[driverAt]?.trim() ?? '', i + 2);
    if (driver !== runDriver) {
      run = [];
      runDriver = driver;
    }
    for (const c of columns) {
      const v = Number(cells[c]);
      if (cells[c] === undefined || cells[c].trim() === '' || !Number.isFinite(v))
        throw new BadInputError(`driving CSV line ${i + 2}: ${header[c]} is not a number`);
      run.push(v);
    }
    if (run.length === WINDOW_ROWS * FEATURE_COUNT) {
      windows.push(...run);
      labels.push(driver);
      run = [];
    }
  });
  if (labels.length === 0)
    throw new BadInputError(`driving CSV holds no full window of ${WINDOW_ROWS} rows of one driver`);
  return { x: Float32Array.from(windows), y: Uint8Array.from(labels), n: labels.length };
}

function driverIndex(cell: string, line: number): number {
  const byName = (DRIVERS as readonly string[]).indexOf(cell.toUpperCase());
  if (byName >= 0) return byName;
  const n = Number(cell);
  if (cell !== '' && Number.isInteger(n) && n >= 0 && n < DRIVERS.length) return n;
  throw new BadInputError(`driving CSV line ${line}: driver must be A..J or 0..9, got "${cell}"`);
}

/** Writes windows as CSV in the loader's format (for tests and for sharing generated data). */
export function drivingCsv(data: DrivingWindows): string {
  const lines = [[...FEATURES, 'driver'].join(',')];
  for (let i = 0; i < data.n; i += 1) {
    for (let t = 0; t < WINDOW_ROWS; t += 1) {
      const at = (i * WINDOW_ROWS + t) * FEATURE_COUNT;
      lines.push(
        [...Array.from(data.x.subarray(at, at + FEATURE_COUNT), (v) => String(v)), DRIVERS[data.y[i]!]].join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

function gauss(r: Random): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
