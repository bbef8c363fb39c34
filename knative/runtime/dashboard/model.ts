// What the dashboard's server sends its page: one snapshot of everything the runtime knows,
// as plain JSON. Shared by the server (recorder.ts) and the browser (page/), types only.

export interface DashboardSnapshot {
  /** Epoch ms when the snapshot was taken, and when the runtime started. */
  now: number;
  startedAt: number;
  topology: Topology;
  services: ServiceView[];
  /** One sample per service per second, oldest first (the last few minutes). */
  pods: PodSample[];
  /** Events the broker accepted, by type. */
  events: Array<{ type: string; count: number }>;
  jobs: TrainingJobView[];
  layerJobs: LayerJobView[];
  split: SplitSample[];
  edge: EdgeSample[];
  deadLetters: DeadLetterView[];
}

export interface TopologyNode {
  id: string;
  kind: 'service' | 'broker' | 'source' | 'uri';
  label: string;
}

export interface TopologyEdge {
  from: string;
  to: string;
  /** A trigger's name and filter, `K_SINK`, `dead letters`, or a PingSource's schedule. */
  label: string;
  kind: 'trigger' | 'sink' | 'dead-letter' | 'source';
}

export interface Topology {
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

export interface ServiceView {
  namespace: string;
  name: string;
  functionTarget: string;
  /** The service's own page (path form, works from any browser). */
  url: string;
  ready: number;
  starting: number;
  desired: number;
  concurrency: number;
  containerConcurrency: number;
  mode: 'stable' | 'panic';
}

export interface PodSample {
  t: number;
  service: string;
  ready: number;
  desired: number;
  concurrency: number;
}

export interface RoundPoint {
  round: number;
  accuracy: number;
  loss: number;
  participants: number;
  at: number;
}

export interface ShardRun {
  round: number;
  shard: number;
  /** When the broker accepted shard.ready, and shard.trained. */
  readyAt: number;
  trainedAt: number | null;
  /** The trainer pod that took the last delivery, and when that request began and ended. */
  pod: string | null;
  startMs: number | null;
  endMs: number | null;
  attempts: number;
  loss: number | null;
}

export type JobStatus = 'running' | 'done' | 'failed';

export interface TrainingJobView {
  jobId: string;
  model: string | null;
  dataset: string | null;
  shards: number;
  rounds: number;
  status: JobStatus;
  reason: string | null;
  startedAt: number;
  updatedAt: number;
  /** The round under way (the last one once done) and how many of its shards are trained. */
  currentRound: number;
  shardsDone: number;
  results: RoundPoint[];
  shardRuns: ShardRun[];
}

export interface MicrobatchRun {
  stage: number;
  service: string;
  kind: 'forward' | 'backward';
  step: number;
  microbatch: number;
  startMs: number;
  endMs: number;
}

export interface LayerJobView {
  jobId: string;
  stages: number;
  updatedAt: number;
  /** The most recent micro-batch requests, oldest first. */
  runs: MicrobatchRun[];
}

export interface SplitSample {
  t: number;
  service: string;
  latencyMs: number;
  /** Bytes of the request body: for half B, the activation A sent it. */
  bytes: number;
  status: number;
}

export interface EdgeSample {
  t: number;
  /** `<namespace>/<name>` of an admission service (the centre's, capacity null, takes offloads). */
  service: string;
  capacity: number | null;
  sessions: Record<string, number>;
  /** `/app-service` requests this admission has answered so far (at a centre: offloads taken). */
  admissions: number;
}

export interface DeadLetterView {
  at: number;
  trigger: string;
  type: string;
  id: string;
  jobId: string | null;
  outcome: 'dead-lettered' | 'dropped';
  reason: string;
}
