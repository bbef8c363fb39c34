// How much the dashboard keeps: every view is a ring buffer of at most these many entries.
/** How much each view keeps. */
export const LIMITS = {
  podSamplesPerService: 300,
  jobs: 20,
  /** Shard runs per job (the latest rounds'; a 1000-round job would otherwise grow without end). */
  shardRunsPerJob: 512,
  layerJobs: 5,
  runsPerLayerJob: 400,
  splitSamples: 300,
  edgeSamples: 300,
  deadLetters: 50,
  /** Event bodies larger than this are not parsed (the catalog's JSON events are far smaller). */
  jsonBytes: 64 * 1024,
  /** shard.ready ids remembered to match the trainer's request to its shard. */
  shardDeliveries: 2_000,
} as const;
