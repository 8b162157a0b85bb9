// One run of each playground kind trained a fixed number of steps, reduced to its losses and a digest of its
// parameters' float64 bits: what test/playground-steps.test.ts compares across kernel sets and code paths.
import { tensorsDigest } from '../../src/io/sha256.js';
import * as pg from '../../src/playground/index.js';
import { digitsImageSet } from '../../web/images.assets.js';

/** A run's record: every step's (or epoch's) losses in order and the SHA-256 of its parameters' bits. */
export interface RunRecord {
  losses: (number | null)[];
  digest: string;
}

/** A Text run's settings: big enough that its op results pass tidy's scratch threshold (1024 elements). */
export const TEXT_RUN: Readonly<Record<pg.TextModelKind, pg.TextConfig>> = {
  gpt: {
    ...pg.DEFAULT_TEXT_CONFIG,
    model: 'gpt',
    embed: 32,
    layers: 2,
    heads: 4,
    context: 16,
    batch: 16,
    seed: 11,
  },
  lstm: {
    ...pg.DEFAULT_TEXT_CONFIG,
    model: 'lstm',
    embed: 16,
    hidden: 32,
    layers: 2,
    context: 16,
    batch: 16,
    seed: 12,
  },
};

/** Steps of a Text run: past a validation (every 25). */
export const TEXT_STEPS = 26;

/** A Text run on `text`, trained {@link TEXT_STEPS} steps: training and validation losses, parameters. */
export function textRecord(model: pg.TextModelKind, text: string): RunRecord {
  const run = pg.createTextRun(TEXT_RUN[model], text, 'names');
  for (let i = 0; i < TEXT_STEPS; i++) run.trainStep();
  return {
    losses: run.history.flatMap((s) => (s.valLoss === undefined ? [s.loss] : [s.loss, s.valLoss])),
    digest: run.parameterDigest(),
  };
}

/** Steps of the Images run: past the end of the digits' first epoch (45 batches of 32), so it is scored. */
export const IMAGE_STEPS = 47;

/** The digits preset's run (seed 4), trained {@link IMAGE_STEPS} batches: batch losses, test scores, parameters. */
export async function imageRecord(): Promise<RunRecord> {
  const run = pg.createImageRun({ ...pg.IMAGE_PRESETS.digits, seed: 4 }, await digitsImageSet());
  for (let i = 0; i < IMAGE_STEPS; i++) run.step();
  return {
    losses: [...run.losses, ...run.evaluations.flatMap((e) => [e.testLoss, e.testAccuracy])],
    digest: tensorsDigest(run.model.parameters()),
  };
}

/** Epochs of the table run. */
export const TABLE_EPOCHS = 4;

/** A table (MLP) run with the widest network and batch the page allows and an L2 penalty. */
export function tableRecord(): RunRecord {
  const run = pg.createRun({
    ...pg.DEFAULT_CONFIG,
    dataset: 'spiral',
    noise: 10,
    features: ['x1', 'x2', 'x1x2', 'sinX1', 'sinX2'],
    hidden: [8, 8, 8],
    batchSize: 30,
    trainRatio: 90,
    regularization: 'L2',
    regularizationRate: 0.001,
    optimizer: 'adam',
    learningRate: 0.01,
    seed: 13,
  });
  for (let i = 0; i < TABLE_EPOCHS; i++) run.trainEpoch();
  return {
    losses: run.history.flatMap((h) => [h.trainLoss, h.testLoss, h.trainAccuracy, h.testAccuracy]),
    digest: tensorsDigest(run.model.parameters()),
  };
}
