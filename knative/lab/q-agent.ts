// Seed 002's autoscaling agent, rebuilt from its published parameters so the lab can hold it
// against the KPA: per "bandwidth" level b (the proxy's sender-thread count, 1..8) a fitted
// batch time t = a·exp(−k·(pods−2)) + c, a reward −(0.8·e^{0.3·t} + 0.2·e^{0.1·pods}) over
// pods 2..8, and tabular Q-learning over one-step episodes (lr 0.1, γ 0.9, ε 0.1, 30,000
// episodes). Seeded, so the policy it prints is the same on every machine.
import { randomInt, seededRandom } from '../../functions/_shared/data/random.js';
import { BadInputError } from '../../functions/_shared/errors.js';

/** t = a·exp(−k·(pods−2)) + c for one bandwidth level. */
export interface ExpModel {
  a: number;
  k: number;
  c: number;
}

/** The seed's fitted parameters by bandwidth level 1..8 (its published table). */
export const SEED_MODELS: Readonly<Record<number, ExpModel>> = {
  1: { a: -25.0875, k: -0.0001, c: 32.8687 },
  2: { a: 0.3491, k: 1.6066, c: 4.9107 },
  3: { a: 0.401, k: 0.8769, c: 4.4 },
  4: { a: 0.806, k: 1.2396, c: 4.0102 },
  5: { a: 0.8654, k: 1.2196, c: 3.6781 },
  6: { a: 0.9379, k: 0.843, c: 3.6556 },
  7: { a: 0.9147, k: 0.4671, c: 3.4091 },
  8: { a: 0.841, k: 0.4228, c: 3.42 },
};

/** The policy the seed's notebook printed for b = 1..8. */
export const SEED_PUBLISHED_POLICY: readonly number[] = [2, 4, 5, 5, 5, 5, 6, 6];

export const MIN_PODS = 2;
export const MAX_PODS = 8;

export function batchTime(model: ExpModel, pods: number): number {
  return model.a * Math.exp(-model.k * (pods - MIN_PODS)) + model.c;
}

export function reward(model: ExpModel, pods: number): number {
  const t = batchTime(model, pods);
  return -(0.8 * Math.exp(0.3 * t) + 0.2 * Math.exp(0.1 * pods));
}

export interface QLearningOptions {
  learningRate: number;
  discount: number;
  epsilon: number;
  episodes: number;
  seed: number;
}

export const SEED_Q_OPTIONS: QLearningOptions = {
  learningRate: 0.1,
  discount: 0.9,
  epsilon: 0.1,
  episodes: 30_000,
  seed: 2,
};

export interface QAgent {
  /** Bandwidth levels in ascending order. */
  levels: number[];
  /** q[i][p − MIN_PODS]: the learned value of `p` pods at levels[i]. */
  q: number[][];
  /** The greedy pod count per level, in the order of `levels`. */
  policy: number[];
}

/** Trains the tabular agent: each episode draws a level, picks pods ε-greedily, takes the reward
 *  and ends (one step, so the discount never applies; it is kept to mirror the seed). */
export function trainQAgent(
  models: Readonly<Record<number, ExpModel>>,
  options: QLearningOptions = SEED_Q_OPTIONS,
): QAgent {
  const levels = Object.keys(models)
    .map(Number)
    .sort((x, y) => x - y);
  if (levels.length === 0) throw new BadInputError('the Q agent needs at least one bandwidth level');
  const actions = MAX_PODS - MIN_PODS + 1;
  const q = levels.map(() => new Array<number>(actions).fill(0));
  const random = seededRandom(options.seed);
  for (let episode = 0; episode < options.episodes; episode++) {
    const s = randomInt(random, levels.length);
    const row = q[s] as number[];
    const a = random() < options.epsilon ? randomInt(random, actions) : argmax(row);
    const model = models[levels[s] as number] as ExpModel;
    const r = reward(model, a + MIN_PODS);
    const terminalValue = 0; // one-step episodes: no next state
    row[a] = (row[a] as number) + options.learningRate * (r + options.discount * terminalValue - (row[a] as number));
  }
  return { levels, q, policy: q.map((row) => argmax(row) + MIN_PODS) };
}

/** The pods the agent picks for a bandwidth level (the nearest level it knows). */
export function policyFor(agent: QAgent, level: number): number {
  let best = 0;
  for (let i = 1; i < agent.levels.length; i++) {
    if (Math.abs((agent.levels[i] as number) - level) < Math.abs((agent.levels[best] as number) - level)) best = i;
  }
  return agent.policy[best] as number;
}

function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}
