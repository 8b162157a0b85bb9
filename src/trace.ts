/**
 * Teaching views: one training step with every chain-rule term named, valued and checked (`trace`), its
 * computation graph with values and gradients (`stepGraph`, `toDot`), and the seed notebook's update
 * order beside backpropagation (`compareNotebookOrder`). Pure library code: no I/O, runs in browsers.
 */
export {
  trace,
  type TraceOptions,
  type StepTrace,
  type LayerTrace,
  type UnitTrace,
  type ParameterTrace,
  type ChainTerm,
  type Factor,
} from './trace/step.js';
export {
  TRACE_LOSSES,
  TraceError,
  isDenseNetwork,
  type Notation,
  type TraceActivation,
  type TraceLoss,
  type TraceLossSpelling,
} from './trace/network.js';
export {
  stepGraph,
  toDot,
  type StepGraph,
  type GraphNode,
  type GraphOptions,
  type DotOptions,
} from './trace/graph.js';
export {
  compareNotebookOrder,
  type NotebookComparison,
  type NotebookFirstStep,
  type NotebookLossRow,
} from './trace/notebook.js';
export {
  traceLayer,
  traceModel,
  type LayerGradientTrace,
  type SingleLayerTrace,
  type ModelTrace,
  type ModelTraceOptions,
  type LayerTraceOptions,
  type TracedGradient,
  type ElementCheck,
  type TraceSummary,
  type Derivation,
  type Quantity,
  type Term,
} from './trace/model.js';
