#!/usr/bin/env python3
"""Drives paycore from a client that is not grpc-js: Python grpcio with stubs protoc generated
from proto/ (Debian's python3-grpcio, python3-protobuf, protobuf-compiler-grpc), as any
internal service in another language would. test/python-client.test.ts generates the stubs
into a temporary directory, runs this script and checks the JSON report it prints:

  python3 paycore_client.py --stubs DIR --target 127.0.0.1:50051 --sandbox http://127.0.0.1:8090

It creates a WeChat Native payment, replays it, reads it back, watches it while paying in the
sandbox PSP (as the payer scanning the QR code would), refunds part of it, and provokes errors
to decode their rich details (google.rpc.Status in grpc-status-details-bin: ErrorInfo and
BadRequest). Channel credentials and call metadata are options, so an authenticated
deployment is reached by passing them (--ca/--cert/--key for TLS, --metadata for app keys).
"""

import argparse
import json
import sys
import time
import urllib.request
import uuid


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--stubs', required=True, help='directory protoc wrote the Python stubs into')
    parser.add_argument('--target', required=True, help='paycore gRPC host:port')
    parser.add_argument('--sandbox', required=True, help='the sandbox PSP base URL')
    parser.add_argument('--merchant', default='m_it')
    parser.add_argument('--ca', help='PEM file of the CA that signed paycore: use TLS')
    parser.add_argument('--cert', help='PEM client certificate (mTLS), with --key')
    parser.add_argument('--key', help='PEM client key (mTLS)')
    parser.add_argument('--server-name', help='TLS name to expect from paycore')
    parser.add_argument('--metadata', action='append', default=[], help='key=value sent on every call')
    parser.add_argument('--timeout-s', type=float, default=30.0)
    return parser.parse_args()


def read(path):
    if path is None:
        return None
    with open(path, 'rb') as f:
        return f.read()


def make_channel(grpc, args):
    """An insecure channel, or TLS (mutual when a client certificate is given)."""
    if args.ca is None:
        return grpc.insecure_channel(args.target)
    credentials = grpc.ssl_channel_credentials(root_certificates=read(args.ca), private_key=read(args.key), certificate_chain=read(args.cert))
    options = [('grpc.ssl_target_name_override', args.server_name)] if args.server_name else []
    return grpc.secure_channel(args.target, credentials, options)


class Client:
    def __init__(self, grpc, pb, pb_grpc, rpc, args):
        self.grpc, self.pb, self.rpc, self.args = grpc, pb, rpc, args
        self.channel = make_channel(grpc, args)
        self.stub = pb_grpc.PaymentServiceStub(self.channel)
        self.metadata = [tuple(kv.split('=', 1)) for kv in args.metadata]

    def call(self, method, request):
        return getattr(self.stub, method)(request, metadata=self.metadata, timeout=self.args.timeout_s)

    def error(self, method, request):
        """The decoded error of a call that must fail."""
        try:
            self.call(method, request)
        except self.grpc.RpcError as error:
            return self.decode(error)
        raise AssertionError(f'{method} succeeded but must fail')

    def decode(self, error):
        trailers = dict(error.trailing_metadata() or ())
        raw = trailers.get('grpc-status-details-bin')
        out = {'code': error.code().name, 'message': error.details(), 'details': raw is not None, 'violations': []}
        if raw is None:
            return out
        status = self.rpc.status_pb2.Status.FromString(raw)
        out['status_code'] = status.code
        out['status_message'] = status.message
        for detail in status.details:
            if detail.Is(self.rpc.error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = self.rpc.error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                out['reason'], out['domain'] = info.reason, info.domain
            elif detail.Is(self.rpc.error_details_pb2.BadRequest.DESCRIPTOR):
                bad = self.rpc.error_details_pb2.BadRequest()
                detail.Unpack(bad)
                out['violations'] = [{'field': v.field, 'description': v.description} for v in bad.field_violations]
        return out

    def status(self, payment):
        return self.pb.PaymentStatus.Name(payment.status)


def sandbox_pay(base_url, payment_id):
    """The payer pays attempt 1 at the sandbox's WeChat Pay (its out_trade_no is <payment_id>a1)."""
    request = urllib.request.Request(f'{base_url}/sandbox/wechatpay/orders/{payment_id}a1/pay', data=b'{}', method='POST', headers={'content-type': 'application/json'})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def eventually(probe, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout_s} s waiting for {what}')
        time.sleep(0.1)


def run(c, args):
    pb, merchant, report = c.pb, args.merchant, {}
    order_no = f'py-{uuid.uuid4().hex[:16]}'
    create = pb.CreatePaymentRequest(
        merchant_id=merchant, merchant_order_no=order_no, amount=2500, currency='CNY',
        product=pb.PRODUCT_WECHAT_NATIVE, subject='python grpcio client', metadata={'client': 'grpcio'})
    created = c.call('CreatePayment', create).payment
    payment_id = created.payment_id
    report['create'] = {
        'payment_id': payment_id, 'status': c.status(created), 'product': pb.Product.Name(created.product),
        'amount': created.amount, 'currency': created.currency, 'metadata': dict(created.metadata),
        'next_action': pb.NextActionType.Name(created.next_action.type), 'qr_code': created.next_action.value,
        'created_at_s': created.created_at.seconds,
    }
    report['replay_payment_id'] = c.call('CreatePayment', create).payment.payment_id
    by_key = c.call('GetPayment', pb.GetPaymentRequest(merchant_id=merchant, merchant_order_no=order_no)).payment
    report['get'] = {'payment_id': by_key.payment_id, 'status': c.status(by_key), 'version': by_key.version}

    # The watch's first message is the state before the payer pays: nothing can be missed.
    watch = c.stub.WatchPayment(pb.WatchPaymentRequest(payment_id=payment_id, merchant_id=merchant), metadata=c.metadata, timeout=60)
    seen = [c.status(next(watch).payment)]
    report['sandbox_pay_http'] = sandbox_pay(args.sandbox, payment_id)
    seen.extend(c.status(message.payment) for message in watch)
    report['watch'] = seen

    refund_no = f'pyr-{uuid.uuid4().hex[:16]}'
    refund = c.call('CreateRefund', pb.CreateRefundRequest(merchant_id=merchant, merchant_refund_no=refund_no, payment_id=payment_id, amount=1000, reason='python partial refund')).refund
    final_refund_states = {pb.REFUND_STATUS_SUCCEEDED, pb.REFUND_STATUS_FAILED, pb.REFUND_STATUS_REQUIRES_MANUAL}

    def settled_refund():
        r = c.call('GetRefund', pb.GetRefundRequest(merchant_id=merchant, merchant_refund_no=refund_no)).refund
        return r if r.status in final_refund_states else None
    settled = eventually(settled_refund, 30, 'the refund to settle')
    after = c.call('GetPayment', pb.GetPaymentRequest(payment_id=payment_id, merchant_id=merchant)).payment
    report['refund'] = {
        'refund_id': refund.refund_id, 'created_status': pb.RefundStatus.Name(refund.status),
        'settled_refund_id': settled.refund_id, 'status': pb.RefundStatus.Name(settled.status), 'amount': settled.amount,
        'payment_status': c.status(after), 'refunded_amount': after.refunded_amount,
    }

    report['invalid'] = c.error('CreatePayment', pb.CreatePaymentRequest(
        merchant_id=merchant, merchant_order_no=f'py-{uuid.uuid4().hex[:16]}', amount=0, currency='usd', product=pb.PRODUCT_BARCODE, subject='bad'))
    report['not_found'] = c.error('GetPayment', pb.GetPaymentRequest(merchant_id=merchant, merchant_order_no=f'py-missing-{uuid.uuid4().hex[:8]}'))
    report['exceeds'] = c.error('CreateRefund', pb.CreateRefundRequest(merchant_id=merchant, merchant_refund_no=f'pyr-{uuid.uuid4().hex[:16]}', payment_id=payment_id, amount=2000))
    return report


def main():
    args = parse_args()
    sys.path.insert(0, args.stubs)
    import grpc  # noqa: E402 (after the stubs' directory is on the path)
    from google.rpc import error_details_pb2, status_pb2  # noqa: E402
    from paycore.v1 import payment_pb2, payment_pb2_grpc  # noqa: E402

    class Rpc:
        pass
    Rpc.status_pb2, Rpc.error_details_pb2 = status_pb2, error_details_pb2
    client = Client(grpc, payment_pb2, payment_pb2_grpc, Rpc, args)
    try:
        report = run(client, args)
    finally:
        client.channel.close()
    report['versions'] = {'grpcio': grpc.__version__, 'python': sys.version.split()[0]}
    print(json.dumps(report))


if __name__ == '__main__':
    main()
