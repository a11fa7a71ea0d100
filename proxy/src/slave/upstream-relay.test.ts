import { upstreamFailure } from './upstream-relay.js';

const err = (code: string, cause?: string): Error & { code: string } =>
  Object.assign(new Error(code), { code, cause: cause ? { code: cause } : undefined });

describe('upstreamFailure', () => {
  it('maps timeouts to 504 and everything else to 502 with the most specific code', () => {
    expect(upstreamFailure(err('UND_ERR_CONNECT_TIMEOUT'))).toEqual({ status: 504, why: 'timed out' });
    expect(upstreamFailure(err('UND_ERR_HEADERS_TIMEOUT'))).toEqual({ status: 504, why: 'timed out' });
    expect(upstreamFailure(err('ECONNREFUSED'))).toEqual({ status: 502, why: 'failed: ECONNREFUSED' });
    expect(upstreamFailure(err('UND_ERR_SOCKET', 'ECONNRESET'))).toEqual({ status: 502, why: 'failed: ECONNRESET' });
  });
});
