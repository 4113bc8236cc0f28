/**
 * Mamba (selective state-space) models in TypeScript on Deno: architectures
 * declared as typed data, compiled to TensorFlow.js ops, loaded from and
 * saved to Hugging Face folders, with a stable selective scan on every
 * backend and a recurrent step for decoding.
 *
 * @example
 * ```ts
 * import { architecture, buildModel, embedding, lmHead, repeat, residual, rmsNorm, setBackend } from "./mod.ts";
 *
 * await setBackend("wasm");
 * const arch = architecture({
 *   name: "tiny-byte-lm",
 *   nodes: [
 *     embedding({ vocab: 256, dim: 64 }),
 *     repeat(2, [residual()]),
 *     rmsNorm(),
 *     lmHead({ tied: true }),
 *   ],
 * });
 * const model = buildModel(arch, { seed: 0 });
 * const logits = model.forward([[72, 101, 108, 108, 111]]); // (1, 5, 256)
 * ```
 *
 * @module
 */
export {
  type BackendName,
  ensureBackend,
  getBackend,
  hasWebGPU,
  setBackend,
  tf,
} from "./kernels/backend.ts";
export {
  architecture,
  classifier,
  type ClassifierOptions,
  dropout,
  embedding,
  type EmbeddingOptions,
  fromJSON,
  layerNorm,
  lmHead,
  type LmHeadOptions,
  mamba,
  mamba2,
  type Mamba2Options,
  type MambaOptions,
  repeat,
  residual,
  type ResidualOptions,
  rmsNorm,
  toJSON,
  validateArchitecture,
} from "./dsl/builder.ts";
export {
  type Architecture,
  type ArchitectureInput,
  ArchitectureSchema,
  ClassifierHiddenSchema,
  type ClassifierNode,
  type ClassifierNodeInput,
  ClassifierNodeSchema,
  type DropoutNode,
  DropoutNodeSchema,
  type EmbeddingNode,
  EmbeddingNodeSchema,
  type HeadNode,
  LayerNormNodeSchema,
  type LmHeadNode,
  LmHeadNodeSchema,
  MAMBA2_NORMS,
  type Mamba2Node,
  type Mamba2NodeInput,
  Mamba2NodeSchema,
  type MambaNode,
  type MambaNodeInput,
  MambaNodeSchema,
  type MixerNode,
  type MixerNodeInput,
  MixerNodeSchema,
  type Node,
  type NodeInput,
  NodeSchema,
  type NormNode,
  type NormNodeInput,
  NormNodeSchema,
  type RepeatNode,
  RepeatNodeSchema,
  type ResidualNode,
  ResidualNodeSchema,
  RmsNormNodeSchema,
  SCAN_IMPLS,
} from "./dsl/schema.ts";
export { ArchitectureError, type ArchitectureIssue } from "./dsl/errors.ts";
export {
  dtRankOf,
  type PlanStep,
  resolveArchitecture,
  type ResolvedArchitecture,
  type ResolvedLayer,
  type ResolvedMamba,
  type ResolvedMamba2,
  type ResolvedMixer,
} from "./dsl/resolve.ts";
export {
  type ArchitectureSizes,
  architectureSizes,
  DEFAULT_SIZE_LIMITS,
  type SizeLimits,
  UNLIMITED_SIZES,
} from "./dsl/sizes.ts";
export {
  hasScanImplementation,
  registerScanImplementation,
  type ScanImplementation,
  selectiveScan,
} from "./kernels/selective_scan.ts";
export { type ScanStepInputs, selectiveScanStep } from "./kernels/scan_step.ts";
export type {
  ScanImpl,
  ScanInputs,
  ScanOptions,
  ScanResult,
} from "./kernels/scan_types.ts";
export {
  referenceScan,
  referenceScanGrad,
  type RefScanGrads,
  type RefScanInputs,
  type RefScanResult,
} from "./kernels/scan_reference.ts";
export {
  DEFAULT_SSD_CHUNK_SIZE,
  ssdChunked,
  type SsdChunkedOptions,
} from "./kernels/ssd_chunked.ts";
export { ssdStep } from "./kernels/ssd_step.ts";
export type {
  DtLimit,
  SsdDtOptions,
  SsdInputs,
  SsdResult,
  SsdStepInputs,
  SsdStepResult,
} from "./kernels/ssd_types.ts";
export {
  referenceSsd,
  type RefSsdInputs,
  type RefSsdResult,
} from "./kernels/ssd_reference.ts";
export {
  buildModel,
  type BuildOptions,
  type WeightValues,
} from "./models/model.ts";
export {
  loadModel,
  type LoadOptions,
  saveModel,
  type SaveOptions,
} from "./models/io.ts";
export {
  downloadHubModel,
  hubCacheDir,
  type HubName,
  type HubOptions,
  parseHubName,
  resolveModelSource,
} from "./models/hub.ts";
export {
  type Dtype,
  DTYPES,
  readSafetensors,
  type SafeTensor,
  type SafeTensorInput,
  type Safetensors,
  SafetensorsError,
  type TensorData,
  type WriteOptions,
  writeSafetensors,
} from "./models/safetensors.ts";
export type {
  ForwardOptions,
  LayerState,
  MambaModel,
  ModelState,
  PrefillOptions,
  TokenIds,
} from "./models/types.ts";
export {
  generate,
  type GenerateCallOptions,
  type GenerateResult,
} from "./infer/generate.ts";
export {
  type BeamHypothesis,
  beamSearch,
  type BeamSearchResult,
} from "./infer/beam.ts";
export {
  DecodeEngine,
  type DecodeEngineOptions,
  type FinishReason,
  type GenerationResult,
  type SubmitHooks,
  type TokenEvent,
} from "./infer/engine.ts";
export {
  type DecodeKernels,
  GpuDecoder,
  type GpuDecoderOptions,
  gpuDecodeUnsupported,
  type SlotInit,
} from "./infer/gpu_decoder.ts";
export {
  GpuForward,
  GpuForwardCache,
  type GpuForwardOptions,
  gpuForwardUnsupported,
} from "./infer/gpu_forward.ts";
export {
  type GenerateOptions,
  InferenceInputError,
  type ResolvedGenerateOptions,
} from "./infer/options.ts";
export {
  type App,
  type AppOptions,
  createApp,
  type RunningServer,
  serve,
  type ServeOptions,
  type ServerLimits,
} from "./infer/server.ts";
export { loadServedModel, type ServedModel } from "./infer/load.ts";
export type { SamplingConfig } from "./infer/sampling.ts";
export {
  byteTokenizer,
  loadHfTokenizer,
  loadTokenizer,
  type TextTokenizer,
} from "./train/tokenizers.ts";
