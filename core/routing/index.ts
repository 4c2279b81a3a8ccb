// The routing table's public surface (docs/architecture.md §4). See README.md in this folder.

export { createRouting, type Routing, type RoutingOptions } from './routing';
export { RoutingCache } from './cache';
export { RoutingAdmin } from './admin';
export { RoutingDecisions, cardDigest } from './decision';
export { CapReservations } from './reservations';
export { ChannelHealth } from './health';
export { AppRegistry } from './app-registry';
export type { AppGrant } from './snapshot';
export { all_merchants, app_roles, appToJson, mayActFor, readApp, type App, type AppKeyInfo, type AppRole, type AppView } from './apps';
export { computeFee } from './fees';
export { staticEligibility, exclusionOf, type Eligibility, type StaticCandidate } from './eligibility';
export {
  scoring_defaults, circuit_defaults, scoreOf, staticScore, healthScore, healthMetrics, shouldOpen, seededRandom,
  type ScoringOptions, type CircuitOptions, type HealthMetrics,
} from './scoring';
export { productsForScene, scene_products, type PaymentOption } from './options';
export { readChannel, readTable, channelToJson } from './config';
export { secretFingerprint } from './reader';
export type {
  Candidate, ChannelLimits, ChannelState, CircuitState, Exclusion, ExclusionReason, FeeRule, HealthSnapshot,
  Outcome, OutcomeKind, PayerElementName, ProductName, Reservation, ReservationRef, RouteDecision, RouteOrder, RoutingChannel,
  ServiceWindows, TimeRange, Weekday,
} from './types';
export { channel_states, limit_names, product_names } from './types';
