/**
 * The public API of catopt-flow, for programs that embed it. Everything a user of the library
 * needs is exported here by name; anything else is internal and may change.
 */

// Contracts and the wire
export { encode, decode, decodeSequence, checkShape, SequenceError, type Wire } from "./core/codec.ts";
export { CatoptError, catoptError, isCatoptError, type ErrorCode } from "./core/errors.ts";
export { encodeEvent, eventId, type CatoptEvent, type AnyEvent } from "./core/event.ts";
export { encodeEnvelope, decodeEnvelope, type Envelope } from "./core/envelope.ts";
export type { SchemaId, BodyOf, RoundBody, PlanStatus, SchemaTable, SchemaEntry } from "./core/schemas.ts";
export type { OpenBody, ProblemSpec, JoinBody, DeltaBody, PlanBody } from "./families/energy-qp/schemas.ts";
export { FAMILIES, familyOf, familyOfFormat, registerFamily, parseBody, isSchemaId, decodeEvent, SCHEMAS, type ScenarioFamily } from "./families/registry.ts";
export {
  deltaSubject,
  planSubject,
  roundSubject,
  tenantSubjects,
  problemAnnouncements,
  parseSubject,
  isToken,
  type ParsedSubject,
  type SubjectKind,
} from "./core/subjects.ts";
export { localObjective, checkLocalProblem, type LocalProblem, type LocalVariable } from "./families/energy-qp/local-problem.ts";
export { DEFAULT_ADMM, type AdmmSettings, type GlobalConstraint } from "./core/problem-spec.ts";
export { loadScenario, loadScenarioOf, withFamily, parseAnyScenario, resolveScenarioPath, type LoadedScenario } from "./run/scenario-files.ts";
export type { ScenarioBase, ScenarioFormat, ReferenceSolution, NodeAdapter, ConformingAdapter } from "./core/scenario-format.ts";
export type { Command, CommandContext, Io, ParsedArgs, OptionSpec } from "./core/command.ts";
export { parseScenario, SCENARIO_FORMAT, type Scenario, type ScenarioAsset } from "./families/energy-qp/scenario.ts";
export { energyQpScenarios } from "./families/energy-qp/scenario-format.ts";
export { parseClusterScenario, CLUSTER_FORMAT, type ClusterScenario } from "./families/accelerator-allocation/cluster-scenario.ts";
export { clusterScenarios } from "./families/accelerator-allocation/scenario-format.ts";
export { systemClock, type Clock } from "./core/clock.ts";

// Adapters (functors)
export { ADAPTERS } from "./families/energy-qp/adapters/registry.ts";
export type { Adapter } from "./families/energy-qp/adapters/adapter.ts";

// Pure math
export { localStep } from "./families/energy-qp/local-step.ts";
export { projectOntoPolyhedron, type Rows } from "./solver/projection.ts";
export {
  coordinatorStep,
  aggregateRound,
  agentSignal,
  constraintRows,
  initialAdmmState,
  type AdmmState,
  type RoundAggregate,
  type Residuals,
  type StepResult,
} from "./solver/admm.ts";
export { solveSharing, type SharingResult } from "./families/energy-qp/sharing.ts";
export { solveReference, type ReferenceResult } from "./families/energy-qp/reference.ts";
export { globalViolation, boundViolation, type Allocations } from "./families/energy-qp/violation.ts";
export { relativeGap } from "./solver/gap.ts";

// Secure aggregation: fixed point in the ring mod 2^64, pairwise and self masks, Shamir shares of seeds.
export { fractionBitsFor, quantize, dequantize, addWords, wordsToBytes, bytesToWords, type Words, type Headroom } from "./secure/ring.ts";
export { agreementKeyOf, maskContribution, type AgreementKey, type MaskContext, type RosterEntry } from "./secure/masks.ts";
export {
  contribute,
  revealRefusal,
  recordReveal,
  openPeerShare,
  recoverSeed,
  unmaskedSum,
  shareThreshold,
  type Attempt,
  type Contribution,
  type RevealRecord,
} from "./secure/aggregation.ts";

// The bus
export { startEmbeddedServer, DEFAULT_SERVER_CONFIG, type EmbeddedServer, type EmbeddedServerOptions } from "./bus/embedded-server.ts";
export { findNatsServer, ensureNatsServer } from "./bus/nats-server-binary.ts";
export { connectTo, chosenNatsUrl } from "./bus/connection.ts";
export { openBus, type BusSession, type BusOptions } from "./bus/session.ts";
export { applyStreams, loadStreamConfigs, EVENTS_STREAM, STREAMS_DIR, type StreamAction } from "./bus/streams.ts";
export { publishEvent, envelopeBytes } from "./governance/signed-publish.ts";
export { readStream, type StreamReader, type ReadOptions } from "./bus/read.ts";

// Agents and the coordinator: pure machines, their events, and the runners that do the effects
export { agentMachine, type AgentInput, type AgentContext, type AgentEvent } from "./agent/agent-machine.ts";
export type { AgentPlan, AgentView, FamilyAgent, FamilyProblem, LocalSolver, PlanFacts, PlanView, ProblemFamily } from "./core/family.ts";
export { qpSolver, qpDelta } from "./families/energy-qp/qp-solver.ts";
export { joinEvent, deltaEvent, qpAgent } from "./families/energy-qp/agent.ts";
export { runAgent, type AgentOptions, type AgentOutcome } from "./agent/agent-runner.ts";
export {
  coordinatorMachine,
  roundCandidates,
  readyToClose,
  roundTakes,
  missingAgents,
  problemOf,
  type CoordinatorInput,
  type CoordinatorContext,
  type CoordinatorEvent,
} from "./coordinator/coordinator-machine.ts";
export { roundEvent } from "./coordinator/coordinator-events.ts";
export { openEvent } from "./families/energy-qp/fold.ts";
export { runCoordinator, type CoordinatorOptions, type CoordinatorOutcome } from "./coordinator/coordinator-runner.ts";

// Identities, governance and the ledger
export { didFromPublicKey, publicKeyFromDid, didKeyProblem } from "./governance/did-key.ts";
export { generateIdentity, identityFromSeed, signBytes, verifyBytes, type Identity } from "./governance/identity.ts";
export { loadIdentity, saveIdentity, defaultKeyDir } from "./governance/keystore.ts";
export {
  verifyMessage,
  applyGovernance,
  signerProblem,
  emptyAdmission,
  isGovernanceEvent,
  type AdmissionState,
  type Admitted,
} from "./governance/admission.ts";
export { admitEvent, revokeEvent, schemaEvent, approveEvent, policyEvent } from "./governance/governance-events.ts";
export { MerkleLog, leafHash, nodeHash, verifyInclusion, verifyConsistency, EMPTY_ROOT, toHex, fromHex, type Hash } from "./governance/merkle.ts";
export {
  checkpointText,
  parseCheckpointText,
  signCheckpoint,
  verifyCheckpoint,
  signNote,
  openNote,
  verifierKey,
  parseVerifierKey,
  noteKeyId,
  type Checkpoint,
} from "./governance/checkpoint.ts";
export {
  ledgerJudge,
  verifyLedger,
  encodeEntry,
  decodeEntry,
  isAccepted,
  LEDGER_STREAM,
  type LedgerEntry,
  type LedgerRefusal,
  type LedgerLeaf,
  type LedgerJudge,
  type LedgerReport,
} from "./governance/ledger.ts";
export {
  ledgerFromStream,
  ledgerFromFile,
  ledgerFromRecording,
  verifyLedgerStream,
  pinnedVkey,
  writeLedgerFile,
  type LedgerSource,
} from "./governance/ledger-source.ts";
export { tenantTrust, type TenantTrust } from "./governance/tenant-trust.ts";
export { startGovernance, type GovernanceConsumer, type GovernanceOptions, type GovernanceSummary } from "./governance/governance-consumer.ts";

// Contracts
export { CATALOG, catalogRegistry } from "./contracts/catalog.ts";
export {
  register,
  compatibilityProblems,
  readProblems,
  COMPATIBILITY_MODES,
  DEFAULT_MODE,
  type CompatibilityMode,
  type Registry,
} from "./contracts/compatibility.ts";
export { conformance, schemaFromJson } from "./contracts/schema.ts";
export {
  declareBody,
  field,
  defaulted,
  SUBJECT_OF,
  type SchemaDescriptor,
  type Field,
  type FieldType,
  type EventKind,
  type Declared,
  type FieldDecl,
  type BodyOfDeclared,
} from "./core/wire-schema.ts";
export { checkAdapters, checkWireSchemas, type CheckResult } from "./contracts/conformance.ts";

// Replay and the run
export { apply, emptyReplayState, problemKey, type ReplayState, type AnyProblemState, type Rejection } from "./replay/reducer.ts";
export { expectedPlanEvent, type ProblemState } from "./families/energy-qp/fold.ts";
export type { StreamMessage } from "./core/stream-message.ts";
export { stateHash } from "./replay/state-hash.ts";
export { replayMessages, readToEnd, type ProblemFilter } from "./replay/replay.ts";
export { readRecording, writeRecording, encodeRecording, decodeRecording, RECORDING_FORMAT, type Recording, type RecordingHeader } from "./replay/recording.ts";
export { summarize, type Outcome } from "./replay/summary.ts";
export { runScenario, type RunOptions, type RunReport, type TenantPlans } from "./run/run-scenario.ts";
