/**
 * The seasonal expert: the value against what this time of day (and, once the series spans
 * two weeks, this hour of the week) usually brings. The baseline is a profile of 96 bins over
 * the day, each an exponentially weighted mean of the values that fell in it, plus a weekly
 * correction per hour of the week; the surprise is the residual in robust standard deviations
 * of the recent residuals. It speaks once the series spans two days: before that it cannot
 * tell a daily rhythm from a change.
 *
 * @module
 */
import type { StateReader, StateWriter } from "./_codec.ts";
import { SortedWindow } from "./_window.ts";
import { bounded, type Expert, type History } from "./expert.ts";

const DAY = 86_400;
const WEEK = 7 * DAY;
const DAY_BINS = 96;
const WEEK_BINS = 168;
const RESIDUALS = 32;

function phase(time: number, period: number, bins: number): number {
  const t = time % period;
  return Math.floor((t < 0 ? t + period : t) / period * bins) % bins;
}

/** A daily and weekly profile. */
export class SeasonalExpert implements Expert {
  readonly name = "seasonal";
  readonly #day = new Float64Array(DAY_BINS).fill(NaN);
  readonly #week = new Float32Array(WEEK_BINS).fill(NaN);
  readonly #residuals = new SortedWindow(RESIDUALS);
  #start = NaN;

  /** `dayRate` and `weekRate`: how much one point moves its bin's mean. */
  constructor(readonly dayRate = 0.4, readonly weekRate = 0.1) {}

  #baseline(time: number): number {
    const day = this.#day[phase(time, DAY, DAY_BINS)]!;
    if (time - this.#start < 2 * WEEK) return day;
    const week = this.#week[phase(time, WEEK, WEEK_BINS)]!;
    return Number.isNaN(week) ? day : day + week;
  }

  surprise(time: number, value: number, _history: History): number {
    if (!(time - this.#start >= 2 * DAY)) return NaN;
    const baseline = this.#baseline(time);
    if (Number.isNaN(baseline)) return NaN;
    const residual = value - baseline;
    const r = this.#residuals;
    const ready = r.length >= 16;
    const surprise = ready
      ? bounded(Math.abs(residual - r.median()) / r.spread(1e-9 * (Math.abs(baseline) + 1)))
      : NaN;
    r.push(residual);
    return surprise;
  }

  learn(time: number, value: number): void {
    if (Number.isNaN(this.#start)) this.#start = time;
    const d = phase(time, DAY, DAY_BINS);
    const day = this.#day[d]!;
    this.#day[d] = Number.isNaN(day) ? value : day + this.dayRate * (value - day);
    const w = phase(time, WEEK, WEEK_BINS);
    const week = this.#week[w]!;
    const offset = value - this.#day[d]!;
    this.#week[w] = Number.isNaN(week) ? offset : week + this.weekRate * (offset - week);
  }

  save(writer: StateWriter): void {
    writer.number(this.#start).array(this.#day).array(this.#week);
    this.#residuals.save(writer);
  }

  load(reader: StateReader): void {
    this.#start = reader.number();
    reader.array(this.#day);
    reader.array(this.#week);
    this.#residuals.load(reader);
  }
}
