import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, formatInt, formatRate, formatRelative, formatTimestamp } from "./format";

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.00 KiB"],
    [1536, "1.50 KiB"],
    [10 * 1024 * 1024 + 300 * 1024, "10.3 MiB"],
    [150 * 1024 * 1024, "150 MiB"],
    [3 * 1024 ** 3, "3.00 GiB"],
    [2 * 1024 ** 5, "2048 TiB"],
    [-1, "—"],
    [Number.NaN, "—"],
  ])("%d → %s", (n, s) => expect(formatBytes(n)).toBe(s));
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [59.9, "59s"],
    [60, "1m 00s"],
    [185, "3m 05s"],
    [3725, "1h 02m 05s"],
    [86400, "1d 0h 00m"],
    [90061, "1d 1h 01m"],
    [-5, "—"],
  ])("%d → %s", (n, s) => expect(formatDuration(n)).toBe(s));
});

describe("formatRelative", () => {
  const now = Date.parse("2025-06-01T12:00:00Z");
  it.each([
    ["2025-06-01T12:00:00Z", "just now"],
    ["2025-06-01T11:59:57Z", "just now"],
    ["2025-06-01T11:59:48Z", "12s ago"],
    ["2025-06-01T11:57:00Z", "3m ago"],
    ["2025-06-01T10:00:00Z", "2h ago"],
    ["2025-05-28T12:00:00Z", "4d ago"],
    ["2025-06-01T12:00:30Z", "in 30s"],
    ["not a date", "—"],
  ])("%s → %s", (iso, s) => expect(formatRelative(iso, now)).toBe(s));
});

describe("other formatters", () => {
  it("formats integers, rates and timestamps", () => {
    expect(formatInt(1234567)).toBe("1,234,567");
    expect(formatRate(null)).toBe("—");
    expect(formatRate(0.5)).toBe("0.50");
    expect(formatRate(12.34)).toBe("12.3");
    expect(formatRate(1234.5)).toBe("1235");
    expect(formatTimestamp("2025-06-01T12:00:00.123+02:00")).toBe("2025-06-01 10:00:00 UTC");
    expect(formatTimestamp("garbage")).toBe("garbage");
  });
});
