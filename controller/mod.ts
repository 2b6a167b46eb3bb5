/**
 * The controller: the scaling policy (a pure function, shared with the simulator) and, from the
 * service issue on, the live loop that observes the queue and the fleet and applies its decisions.
 * @module
 */
export {
  type ApplyOutcome,
  type Clamp,
  decide,
  type DecisionLog,
  type FleetGoal,
  type FleetPlan,
  type FleetView,
  initialPolicyState,
  INSTANCE_STATES,
  type InstanceExit,
  type InstanceState,
  type InstanceView,
  judgeReadiness,
  type NotReadyCondition,
  type NotReadyState,
  type Observation,
  planFleet,
  POLICY_DEFAULTS,
  POLICY_LIMITS,
  type PolicyConfig,
  PolicyInvariantError,
  type PolicyOptions,
  type PolicyResult,
  type PolicyState,
  type QueueCounts,
  type RequestedAction,
  resolvePolicyConfig,
  type ScalingDecision,
  viewFleet,
} from "./policy.ts";
export {
  Controller,
  type ControllerCondition,
  type ControllerDeps,
  type ControllerLog,
  type ControllerOptions,
  type TickReport,
} from "./controller_loop.ts";
export {
  type AppliedDecisions,
  type ControllerCrashedEvent,
  type ControllerDeadLetterEvent,
  type ControllerDecisionEvent,
  type ControllerEvent,
  type ControllerEventKind,
  type ControllerFailureEvent,
  type ControllerLine,
  controllerLine,
  type ControllerSweepFailedEvent,
  type ControllerTickFailedEvent,
  type ControllerWorkersNotReadyEvent,
  type ControllerWorkersReadyEvent,
} from "./log_events.ts";
