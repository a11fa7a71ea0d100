/** One access record per request or tunnel (DESIGN.md, "Reports"). */
export interface AccessRecord {
  /** Epoch milliseconds at which the request arrived. */
  time: number;
  /** Name of the slave that served it. */
  slave: string;
  client: string;
  user?: string;
  method: string;
  host: string;
  /** Full URL for HTTP; `host:port` for CONNECT. */
  url: string;
  status: number;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  action: 'allow' | 'deny' | 'redirect';
  rule?: string;
  category?: string;
  /** The policy hash that decided. */
  policyHash?: string;
}
