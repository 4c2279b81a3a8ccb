// TimerAdminService: timers that kept failing, listed and re-driven.

import type * as grpc from '@grpc/grpc-js';
import {
  TimerAdminServiceDefinition,
  type DeadTimer as WireDeadTimer,
  type ListDeadTimersRequest,
  type ListDeadTimersResponse,
  type RedriveTimerRequest,
  type RedriveTimerResponse,
} from '../../proto/gen/paycore/v1/admin';
import type { Logger } from '../log';
import type { DeadTimer, DeadTimers } from '../orders/dead-timers';
import { adminUnary, grpcDefinition } from './admin';

export const timer_admin_service = grpcDefinition(TimerAdminServiceDefinition);

const dead_timers_page_default = 100;

export interface TimerAdminServiceServer extends grpc.UntypedServiceImplementation {
  listDeadTimers: grpc.handleUnaryCall<ListDeadTimersRequest, ListDeadTimersResponse>;
  redriveTimer: grpc.handleUnaryCall<RedriveTimerRequest, RedriveTimerResponse>;
}

export function timerAdminService(timers: DeadTimers, log?: Logger): TimerAdminServiceServer {
  const unary = adminUnary(log);
  return {
    listDeadTimers: unary('ListDeadTimers', async (request: ListDeadTimersRequest) => {
      const dead = await timers.list({ limit: request.limit === 0 ? dead_timers_page_default : request.limit, after_seq: Number(request.afterSeq) });
      return { deadTimers: dead.map(toWire) };
    }),
    redriveTimer: unary('RedriveTimer', async (request: RedriveTimerRequest) => ({ paymentId: await timers.redrive(Number(request.seq)) })),
  };
}

function toWire(dead: DeadTimer): WireDeadTimer {
  return {
    seq: BigInt(dead.seq),
    kind: dead.timer.kind,
    paymentId: dead.timer.payment_id,
    refundId: dead.timer.refund_id ?? '',
    round: dead.timer.round ?? 0,
    dueAt: new Date(dead.timer.due_at),
    failures: dead.failures,
    reason: dead.reason,
    deadAt: new Date(dead.dead_at),
  };
}
