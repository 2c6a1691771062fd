// SPDX-License-Identifier: AGPL-3.0-only
// Counters for tests and benchmarks (not exported from the package): group commit is
// checked by counting fsyncs rather than by timing.
export const writerStats = { writes: 0, fsyncs: 0 };
