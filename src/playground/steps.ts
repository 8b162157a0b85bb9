/**
 * The playground runs' training steps, each inside `tidy`: a step's op results and gradients live in the
 * kernel set's memory and are given back when the step returns (see src/tidy.ts). The runs keep nothing a
 * step makes: the Trainer reports each step's loss as a number, the batches and optimizer state are made
 * outside, and `.grad` arrays are the parameters' own.
 */
import { tidy } from '../tidy.js';
import { PAUSED, type BatchLog, type Trainer } from '../train/index.js';

/**
 * Train epoch `epoch` of `trainer` a step at a time, each step one `tidy`, until the epoch ends (returns
 * its mean loss) or `performance.now()` has passed `until` after a step (returns {@link PAUSED}; the next
 * call with the same epoch continues it, as `Trainer.run` does). At least one step; `Infinity` trains the
 * whole epoch. The bits are those of `Trainer.run(epoch, { onBatchEnd }, until)`.
 */
export function trainSteps(
  trainer: Trainer,
  epoch: number,
  until: number,
  onBatchEnd?: (log: BatchLog) => void,
): number | typeof PAUSED {
  const hooks = { onBatchEnd };
  for (;;) {
    // until = −Infinity: Trainer.run pauses after one step, unless that step ended the epoch.
    const result = tidy(() => trainer.run(epoch, hooks, -Infinity));
    if (result !== PAUSED) return result as number;
    if (performance.now() > until) return PAUSED;
  }
}
