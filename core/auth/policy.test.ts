// Every method paycore serves has a decided requirement: a method missing from the policy is
// refused to everyone, so this catches a new RPC nobody classified.

import { PaymentServiceService } from '../../proto/gen/paycore/v1/payment';
import { merchant_admin_service, routing_admin_service } from '../gateway/admin';
import { app_admin_service } from '../gateway/app-admin';
import { notification_admin_service } from '../gateway/notify-admin';
import { timer_admin_service } from '../gateway/timer-admin';
import { risk_admin_service } from '../gateway/risk-admin';
import { payout_admin_service } from '../gateway/payout-admin';
import { appOfCertificate } from './authenticator';
import { requirementOf } from './policy';

test('policy - every PaymentService and admin method has a role; admin services need their admin role', () => {
  for (const method of Object.values(PaymentServiceService)) {
    expect({ path: method.path, requirement: requirementOf(method.path) }).toEqual({ path: method.path, requirement: expect.stringMatching(/^(payments|refunds):(read|write)$/) });
  }
  const admin: Array<[Record<string, { path: string }>, string]> = [
    [routing_admin_service, 'admin:routing'], [merchant_admin_service, 'admin:merchants'],
    [app_admin_service, 'admin:apps'], [notification_admin_service, 'admin:notifications'], [timer_admin_service, 'admin:timers'],
    [risk_admin_service, 'admin:risk'], [payout_admin_service, 'admin:payouts'],
  ];
  for (const [definition, role] of admin)
    for (const method of Object.values(definition)) expect([method.path, requirementOf(method.path)]).toEqual([method.path, role]);
  expect(requirementOf('/paycore.v1.PaymentService/CreatePayment')).toBe('payments:write');
  expect(requirementOf('/paycore.v1.PaymentService/GetPayment')).toBe('payments:read');
  expect(requirementOf('/paycore.v1.PaymentService/CreateRefund')).toBe('refunds:write');
  expect(requirementOf('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo')).toBe('authenticated');
});

test('policy - unknown methods and services have no requirement (refused)', () => {
  expect(requirementOf('/paycore.v1.PaymentService/DeleteEverything')).toBeUndefined();
  expect(requirementOf('/paycore.v1.Other/Get')).toBeUndefined();
  expect(requirementOf('/paycore.v1.PaymentService/constructor')).toBeUndefined();
  expect(requirementOf('nonsense')).toBeUndefined();
});

test('certificate identity - exactly one SAN URI spiffe://paycore/app/<app_id> names the app', () => {
  expect(appOfCertificate('URI:spiffe://paycore/app/checkout')).toBe('checkout');
  expect(appOfCertificate('DNS:checkout.internal, URI:spiffe://paycore/app/checkout')).toBe('checkout');
  for (const san of ['', 'DNS:checkout', 'URI:spiffe://other/app/checkout', 'URI:spiffe://paycore/app/a, URI:spiffe://paycore/app/b', 'URI:spiffe://paycore/app/bad id', 'URI:spiffe://paycore/app/x/y']) {
    expect(() => appOfCertificate(san)).toThrow(/exactly one app/);
  }
});
