// OpenTelemetry tracing: W3C trace context from gRPC metadata, through NATS headers, into
// the actor and out on the channel's HTTP call. Exporting is off by default; it turns on
// with the standard variables (OTEL_TRACES_EXPORTER=otlp, or an OTEL_EXPORTER_OTLP_*
// endpoint), each thread exporting its own spans over OTLP/HTTP.

import diagnostics_channel from 'node:diagnostics_channel';
import { context, propagation, trace, SpanKind, SpanStatusCode, type Context, type Span, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

export { SpanKind };

const tracer_name = 'paycore';

export interface Tracing {
  shutdown(): Promise<void>;
}

function tracingEnabled(env: Record<string, string | undefined> = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  if (env.OTEL_TRACES_EXPORTER !== undefined) return env.OTEL_TRACES_EXPORTER.split(',').includes('otlp');
  return env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined;
}

/** Installs the W3C propagator always (so a caller's trace id travels on even when this
 * process exports nothing) and, when enabled, an OTLP exporter and the channel HTTP hook. */
export function initTracing(service_name: string): Tracing {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (!tracingEnabled()) return { shutdown: async () => undefined };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: process.env.OTEL_SERVICE_NAME ?? service_name }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  injectIntoOutgoingHttp();
  return { shutdown: () => provider.shutdown() };
}

/** undici announces every request it creates; adding traceparent there covers every
 * channel adapter without each one knowing about tracing. */
function injectIntoOutgoingHttp(): void {
  diagnostics_channel.subscribe('undici:request:create', (message) => {
    const request = (message as { request: { addHeader(name: string, value: string): void } }).request;
    propagation.inject(context.active(), request, { set: (carrier, key, value) => carrier.addHeader(key, value) });
  });
}

function tracer() {
  return trace.getTracer(tracer_name);
}

const record_getter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/** The context a caller sent (gRPC metadata as a plain map, HTTP headers). */
export function extractFrom(carrier: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(context.active(), carrier, record_getter);
}

/** The context a NATS message carries in its headers. */
export function extractFromHeaders(headers: { get(key: string): string; keys(): string[] } | undefined): Context {
  if (headers === undefined) return context.active();
  return propagation.extract(context.active(), headers, { keys: (h) => h.keys(), get: (h, key) => h.get(key) || undefined });
}

/** Writes the active context into a carrier with a `set` (NATS headers). */
export function injectInto<C extends { set(key: string, value: string): void }>(carrier: C): C {
  const setter: TextMapSetter<C> = { set: (c, key, value) => c.set(key, value) };
  propagation.inject(context.active(), carrier, setter);
  return carrier;
}

/** Runs `step` in a new span under `parent`, recording an exception as the span's error. */
export async function inSpan<T>(name: string, kind: SpanKind, parent: Context, step: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { kind }, parent, async (span) => {
    try {
      return await step(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).name });
      throw error;
    } finally {
      span.end();
    }
  });
}
