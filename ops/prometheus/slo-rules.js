// Writes slo.yml, the SLO recording rules and burn-rate alerts, from the table below, so that
// every objective gets the same windows and the same burn thresholds (ops/slo.md explains
// the objectives; the Google SRE workbook, "Alerting on SLOs", the multiwindow,
// multi-burn-rate alerts). Regenerate after editing: `make slo-rules`
// (node ops/prometheus/slo-rules.js > ops/prometheus/slo.yml); test/ops.test.ts fails while
// slo.yml differs from what this prints.
'use strict';

/** Every SLI is recorded over each of these windows (the alerts' long and short windows,
 * and 30d for the error budget). */
const windows = ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d'];

/** The objectives' period: the error budget is what 30 days allow. */
const budget_window = '30d';

/** Burn rate = error ratio / (1 - objective). Each alert fires when both its long and its
 * short window burn faster than the factor: the long window proves it matters, the short one
 * that it is still happening (so the alert resets soon after a fix). */
const burn_alerts = [
  { severity: 'page', speed: 'fast', pairs: [{ factor: 14.4, long: '1h', short: '5m' }, { factor: 6, long: '6h', short: '30m' }] },
  { severity: 'ticket', speed: 'slow', pairs: [{ factor: 3, long: '1d', short: '2h' }, { factor: 1, long: '3d', short: '6h' }] },
];

/** gRPC codes that are paycore's failure, not the caller's (ops/slo.md says why each). */
const server_error_codes = ['UNAVAILABLE', 'INTERNAL', 'DEADLINE_EXCEEDED', 'UNKNOWN', 'RESOURCE_EXHAUSTED', 'DATA_LOSS', 'UNIMPLEMENTED'];

/** `sum(rate(series[w]))`, or 0 when the series does not exist yet (no error so far). */
const sumRate = (series, w) => `sum(rate(${series}[${w}]))`;
const sumRateOr0 = (series, w) => `(${sumRate(series, w)} or vector(0))`;

const slos = [
  {
    slo: 'create-payment-availability',
    objective: 0.999,
    alert: 'PaycoreCreatePaymentAvailabilityBudgetBurn',
    what: 'CreatePayment availability',
    bad: 'of CreatePayment calls fail on paycore\'s side',
    ratio: (w) =>
      `${sumRateOr0(`paycore_grpc_requests_total{method="CreatePayment", code=~"${server_error_codes.join('|')}"}`, w)}\n` +
      `/ ${sumRate('paycore_grpc_requests_total{method="CreatePayment", code!="CANCELLED"}', w)}`,
  },
  {
    slo: 'create-payment-latency',
    objective: 0.99,
    alert: 'PaycoreCreatePaymentLatencyBudgetBurn',
    what: 'CreatePayment latency (under 1 s)',
    bad: 'of CreatePayment calls take over 1 s',
    ratio: (w) =>
      `(${sumRate('paycore_grpc_request_duration_seconds_count{method="CreatePayment"}', w)}\n` +
      ` - ${sumRate('paycore_grpc_request_duration_seconds_bucket{method="CreatePayment", le="1"}', w)})\n` +
      `/ ${sumRate('paycore_grpc_request_duration_seconds_count{method="CreatePayment"}', w)}`,
  },
  {
    slo: 'payment-completion',
    objective: 0.99,
    alert: 'PaycorePaymentCompletionBudgetBurn',
    what: 'payment completion (SUCCEEDED within 60 s of the payer paying)',
    bad: 'of paid payments take over 60 s to reach SUCCEEDED',
    ratio: (w) =>
      `(${sumRate('paycore_payment_completion_seconds_count', w)}\n` +
      ` - ${sumRate('paycore_payment_completion_seconds_bucket{le="60"}', w)})\n` +
      `/ ${sumRate('paycore_payment_completion_seconds_count', w)}`,
  },
  {
    slo: 'notification-delivery',
    objective: 0.99,
    alert: 'PaycoreNotificationDeliveryBudgetBurn',
    what: 'merchant notification delivery (within 60 s of the outcome)',
    bad: 'of notifications are late (over 60 s) or dead-lettered',
    ratio: (w) =>
      `(${sumRate('paycore_notify_delivery_delay_seconds_count', w)}\n` +
      ` - ${sumRate('paycore_notify_delivery_delay_seconds_bucket{le="60"}', w)}\n` +
      ` + ${sumRateOr0('paycore_notify_attempts_total{result="dead"}', w)})\n` +
      `/ (${sumRate('paycore_notify_delivery_delay_seconds_count', w)}\n` +
      ` + ${sumRateOr0('paycore_notify_attempts_total{result="dead"}', w)})`,
  },
];

const indent = (text, spaces) => text.split('\n').map((line) => ' '.repeat(spaces) + line).join('\n');

function recordingRules(s) {
  const rules = windows.map((w) => [
    `      - record: slo:sli_error:ratio_rate${w}`,
    `        labels: { slo: ${s.slo} }`,
    `        expr: |`,
    indent(s.ratio(w), 10),
  ].join('\n'));
  rules.push([
    `      - record: slo:objective:ratio`,
    `        labels: { slo: ${s.slo} }`,
    `        expr: vector(${s.objective})`,
  ].join('\n'));
  rules.push([
    `      # 1 = the whole budget is left, 0 = spent, below 0 = overspent.`,
    `      - record: slo:error_budget_remaining:ratio`,
    `        labels: { slo: ${s.slo} }`,
    `        expr: 1 - slo:sli_error:ratio_rate${budget_window}{slo="${s.slo}"} / (1 - ${s.objective})`,
  ].join('\n'));
  return rules;
}

function alertRule(s, a) {
  const budget = +(1 - s.objective).toFixed(6);
  const pair = (p) =>
    `(slo:sli_error:ratio_rate${p.long}{slo="${s.slo}"} > (${p.factor} * ${budget})\n` +
    ` and slo:sli_error:ratio_rate${p.short}{slo="${s.slo}"} > (${p.factor} * ${budget}))`;
  const burns = a.pairs.map((p) => `${p.factor}x over ${p.long} and ${p.short}`).join(', or ');
  return [
    `      - alert: ${s.alert}`,
    `        expr: |`,
    indent(a.pairs.map(pair).join('\nor\n'), 10),
    `        labels: { severity: ${a.severity}, slo: ${s.slo} }`,
    `        annotations:`,
    `          summary: "${s.what}: the 30-day error budget burns ${a.speed} ({{ $value | humanizePercentage }} ${s.bad})"`,
    `          description: "Objective ${+(s.objective * 100).toFixed(3)}%. Fires at a burn rate of ${burns} (error budget = ${+(budget * 100).toFixed(3)}% of events)."`,
    `          runbook_url: ops/runbooks/${s.alert}.md`,
  ].join('\n');
}

function sloRules() {
  const out = [
    '# GENERATED by slo-rules.js (make slo-rules): edit that file, not this one.',
    '# SLO recording rules and multiwindow, multi-burn-rate alerts (ops/slo.md). Unit-tested by',
    '# slo.test.yml (`promtool test rules slo.test.yml`, run by test/ops.test.ts).',
    'groups:',
  ];
  // One group per SLO: rules of a group run in order, so its alerts read this evaluation's ratios.
  for (const s of slos) {
    out.push(`  - name: slo-${s.slo}`, '    rules:', ...recordingRules(s), ...burn_alerts.map((a) => alertRule(s, a)));
  }
  return out.join('\n') + '\n';
}

module.exports = { sloRules, slos, windows, burn_alerts };

if (require.main === module) process.stdout.write(sloRules());
