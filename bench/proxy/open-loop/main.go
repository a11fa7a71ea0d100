// open-loop: constant-rate GETs with vegeta's attacker, through an HTTP proxy or direct, printing
// one line of figures for bench/proxy. A wrapper rather than the vegeta CLI because the CLI takes
// its proxy from HTTP_PROXY, which Go ignores for loopback targets, and every bench target is on
// 127.0.0.1.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"syscall"
	"time"
	"unsafe"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func main() {
	target := flag.String("url", "", "absolute URL to GET (required)")
	proxy := flag.String("proxy", "", "HTTP proxy URL; empty: direct")
	rate := flag.Int("rate", 0, "requests per second (required, > 0)")
	duration := flag.Duration("duration", 5*time.Second, "how long to send, counted")
	warmup := flag.Duration("warmup", 0, "how long to send at the rate first, not counted: the generator's start-up "+
		"(its connections, its first allocations) is not the target's latency")
	timeout := flag.Duration("timeout", 5*time.Second, "per-request timeout")
	connections := flag.Int("connections", 0, "most connections to the proxy (or target) at once; 0: vegeta's default (no cap)")
	trace := flag.String("trace", "", "file for one line per request: its start on CLOCK_MONOTONIC and its latency, both in us")
	flag.Parse()
	if *target == "" || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "open-loop: -url and a positive -rate are required")
		os.Exit(2)
	}
	opts := []func(*vegeta.Attacker){
		vegeta.Timeout(*timeout),
		vegeta.KeepAlive(true),
		vegeta.HTTP2(false),
		vegeta.Redirects(vegeta.NoFollow),
	}
	if *connections > 0 {
		// A request that finds every connection busy waits for one, and the wait counts in its
		// latency (vegeta times from before the client call), so a stall still shows in full
		// while it cannot turn into thousands of new connections (and dropped SYNs) on the machine.
		opts = append(opts, vegeta.Connections(*connections), vegeta.MaxConnections(*connections))
	}
	if *proxy != "" {
		u, err := url.Parse(*proxy)
		if err != nil {
			fmt.Fprintf(os.Stderr, "open-loop: -proxy %q: %v\n", *proxy, err)
			os.Exit(2)
		}
		opts = append(opts, vegeta.Proxy(http.ProxyURL(u)))
	}
	attacker := vegeta.NewAttacker(opts...)
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: *target})
	pace := vegeta.Rate{Freq: *rate, Per: time.Second}
	var m vegeta.Metrics
	// Exact percentiles from every latency: a few tens of thousands of values at most.
	latencies := make([]time.Duration, 0, *rate*int(duration.Seconds()+1))
	errors := 0
	var traceLines []byte
	monoAnchor, wallAnchor := monotonicNow(), time.Now()
	counted := wallAnchor.Add(*warmup)
	for res := range attacker.Attack(targeter, pace, *warmup+*duration, "bench") {
		if res.Timestamp.Before(counted) {
			continue
		}
		m.Add(res)
		latencies = append(latencies, res.Latency)
		if *trace != "" {
			// Sub uses the monotonic readings both times carry: the start on the clock perf records with.
			start := monoAnchor + res.Timestamp.Sub(wallAnchor)
			traceLines = fmt.Appendf(traceLines, "%d %d\n", start.Microseconds(), res.Latency.Microseconds())
		}
		if res.Error != "" || res.Code < 200 || res.Code >= 400 {
			errors++
		}
	}
	m.Close()
	if *trace != "" {
		if err := os.WriteFile(*trace, traceLines, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "open-loop: -trace: %v\n", err)
			os.Exit(1)
		}
	}
	if len(latencies) == 0 {
		fmt.Fprintln(os.Stderr, "open-loop: no request was sent")
		os.Exit(1)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	q := func(p float64) float64 {
		i := int(p * float64(len(latencies)-1))
		return float64(latencies[i]) / 1e6
	}
	// requests sent, sent/s, answered-OK/s, p50/p99/p99.9 ms, max ms, errors
	fmt.Printf("OPENLOOP %d %.1f %.1f %.3f %.3f %.3f %.3f %d\n",
		m.Requests, m.Rate, m.Throughput, q(0.50), q(0.99), q(0.999), q(1), errors)
	if errors > 0 && len(m.Errors) > 0 {
		fmt.Fprintf(os.Stderr, "open-loop: first error: %s\n", m.Errors[0])
	}
}

// monotonicNow reads CLOCK_MONOTONIC, the clock `perf record -k CLOCK_MONOTONIC` stamps events with;
// Go keeps its own monotonic reading private.
func monotonicNow() time.Duration {
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1 /* CLOCK_MONOTONIC */, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "open-loop: clock_gettime(CLOCK_MONOTONIC): %v\n", errno)
		os.Exit(1)
	}
	return time.Duration(ts.Nano())
}
