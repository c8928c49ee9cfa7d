package web

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter keeps one token bucket per client. Idle clients are forgotten,
// and the table is bounded, so a flood of addresses cannot grow memory
// without end.
type limiter struct {
	mu        sync.Mutex
	limit     rate.Limit
	burst     int
	clients   map[string]*client
	lastSweep time.Time
}

type client struct {
	bucket *rate.Limiter
	seen   time.Time
}

const (
	clientIdle  = 10 * time.Minute
	sweepEvery  = time.Minute
	maxClients  = 100_000
	ipv6Network = 64 // one IPv6 client usually owns a whole /64
)

func newLimiter(limit rate.Limit, burst int) *limiter {
	return &limiter{limit: limit, burst: burst, clients: map[string]*client{}}
}

// allow takes one token for key; when none is left it returns how long
// until the next one.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > sweepEvery {
		for k, c := range l.clients {
			if now.Sub(c.seen) > clientIdle {
				delete(l.clients, k)
			}
		}
		l.lastSweep = now
	}
	c := l.clients[key]
	if c == nil {
		if len(l.clients) >= maxClients {
			// Under a flood of addresses, start over rather than grow:
			// honest clients lose at most their spent burst.
			l.clients = map[string]*client{}
		}
		c = &client{bucket: rate.NewLimiter(l.limit, l.burst)}
		l.clients[key] = c
	}
	c.seen = now
	r := c.bucket.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// rateLimited refuses a client over its budget with 429 and Retry-After,
// before any work is done for it.
func (s *Server) rateLimited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := s.limiter.allow(s.clientKey(r), time.Now())
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			noStore(w)
			s.message(w, http.StatusTooManyRequests, "Too many requests", "Please wait a moment and try again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientKey names the client for the rate limit: its IP address (an IPv6
// address by its /64), taken from the last X-Forwarded-For entry when a
// trusted proxy sets it.
func (s *Server) clientKey(r *http.Request) string { return maskedKey(s.clientAddr(r)) }

// clientAddr is the client's address (host:port, or a bare IP from a
// trusted X-Forwarded-For).
func (s *Server) clientAddr(r *http.Request) string {
	addr := r.RemoteAddr
	if s.TrustForwardedFor {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			addr = strings.TrimSpace(last)
		}
	}
	return addr
}

// maskedKey is clientKey for an address: an IPv6 address by its /64.
func maskedKey(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(ipv6Network, 128)).String()
	}
	return ip.String()
}
