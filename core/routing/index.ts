// The routing table's public surface (docs/architecture.md §4). See README.md in this folder.

export { RoutingTable, cardDigest, type AppGrant, type RoutingTableOptions } from './table';
export { all_merchants, app_roles, appToJson, mayActFor, readApp, type App, type AppKeyInfo, type AppRole, type AppView } from './apps';
export { computeFee } from './fees';
export { staticEligibility, exclusionOf, type Eligibility, type StaticCandidate } from './eligibility';
export {
  scoring_defaults, circuit_defaults, scoreOf, staticScore, healthScore, healthMetrics, shouldOpen, seededRandom,
  type ScoringOptions, type CircuitOptions, type HealthMetrics,
} from './scoring';
export { productsForScene, scene_products, type PaymentOption } from './options';
export { readChannel, readMerchant, readTable, channelToJson, merchantToJson, secretFingerprint, type MerchantInput } from './config';
export type {
  Candidate, ChannelLimits, ChannelState, CircuitState, Exclusion, ExclusionReason, FeeRule, HealthSnapshot, Merchant,
  MerchantView, Outcome, OutcomeKind, PayerElementName, ProductName, Reservation, ReservationRef, RouteDecision, RouteOrder, RoutingChannel,
  ServiceWindows, TimeRange, Weekday,
} from './types';
export { channel_states, limit_names, product_names } from './types';
