package feeds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Version is digest's version as the User-Agent names it: the module
// version the Go toolchain recorded in the binary (what digest --version
// prints), "devel" for a build in a work tree, so it cannot drift from
// the build.
var Version = buildVersion()

func buildVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "devel"
}

// Defaults of the Fetcher's limits.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxBody      = 10 << 20
	DefaultMaxRedirects = 5
)

// UserAgent is what every request digest makes says it is, so that a
// publisher can tell digest's polling from a browser and reach its owner.
func UserAgent() string {
	return "digest/" + Version + " (newsletter digest feed reader; +https://github.com/newsroom/digest)"
}

// ErrPrivateAddress reports a URL whose host resolves to a loopback,
// link-local, private or otherwise internal address, refused so that a
// feed cannot turn the daemon against internal services.
var ErrPrivateAddress = errors.New("internal address refused")

// privateAddrError is the dial-time refusal, naming the address.
type privateAddrError struct{ ip netip.Addr }

func (e *privateAddrError) Error() string { return e.ip.String() + " is an internal address" }
func (e *privateAddrError) Unwrap() error { return ErrPrivateAddress }

// Fetcher makes digest's HTTP requests: conditional GETs of feeds, and
// article pages for enrichment. The zero value is ready to use; it is
// safe for concurrent use.
type Fetcher struct {
	// Timeout bounds a whole request, body included (DefaultTimeout).
	Timeout time.Duration
	// MaxBody caps a response body after decompression (DefaultMaxBody).
	MaxBody int64
	// MaxRedirects bounds the redirects followed (DefaultMaxRedirects).
	MaxRedirects int
	// AllowPrivate lifts the private-address guard for every request,
	// whatever the feed says: for tests whose servers are on loopback.
	AllowPrivate bool

	// public decides which dialled addresses the guard lets through
	// (PublicAddr when nil); tests set it to call one loopback address
	// public, so that a redirect from it to another can be refused.
	public func(netip.Addr) bool

	once            sync.Once
	guarded, direct *http.Client
}

// Request is one conditional GET.
type Request struct {
	URL          string
	ETag         string
	LastModified string
	// AllowPrivate lets this request reach private addresses (a feed
	// added with --allow-private, e.g. an intranet CMS).
	AllowPrivate bool
	// Accept is the Accept header (a feed's, by default).
	Accept string
}

// Response is what a fetch learnt. Status is the final HTTP status (0
// when no answer came).
type Response struct {
	Status int
	// URL is where the body came from after redirects; Moved is set when
	// every redirect on the way was permanent (301 or 308), so the feed's
	// stored URL should become URL.
	URL   string
	Moved bool
	// NotModified is a 304: the feed is unchanged and Body is empty.
	NotModified  bool
	Body         []byte
	ContentType  string
	ETag         string
	LastModified string
	// MaxAge is the response's Cache-Control max-age, RetryAfter its
	// Retry-After; zero when absent.
	MaxAge     time.Duration
	RetryAfter time.Duration
}

// StatusError is an answer other than 2xx or 304.
type StatusError struct {
	Status int
	Text   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("server answered %d %s", e.Status, e.Text)
}

func (f *Fetcher) init() {
	f.once.Do(func() {
		f.guarded = f.client(true)
		f.direct = f.client(false)
	})
}

func (f *Fetcher) client(guard bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if guard {
		// The check runs on the address actually dialled, after DNS, so a
		// name that resolves (or re-resolves) to an internal address is
		// refused too; redirects dial through here as well.
		public := f.public
		if public == nil {
			public = PublicAddr
		}
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			return checkDialAddress(address, public)
		}
	}
	transport := &http.Transport{
		Proxy:                 nil, // the guard must see the real destination
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	max := f.MaxRedirects
	if max <= 0 {
		max = DefaultMaxRedirects
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > max {
				return fmt.Errorf("more than %d redirects", max)
			}
			if err := checkScheme(req.URL); err != nil {
				return fmt.Errorf("redirect to %s: %w", req.URL.Redacted(), err)
			}
			return nil
		},
	}
}

// checkScheme allows http and https only: file:, ftp: and the like
// would reach what a feed reader has no business reading.
func checkScheme(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

// CheckURL accepts an absolute http(s) URL for a feed.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("feed url %q does not parse: %v", raw, err)
	}
	if err := checkScheme(u); err != nil {
		return nil, fmt.Errorf("feed url %q: %v: give an http:// or https:// URL", raw, err)
	}
	if u.User != nil {
		return nil, fmt.Errorf("feed url %q carries a user name or password: digest does not store credentials in URLs", u.Redacted())
	}
	return u, nil
}

// checkDialAddress refuses internal destinations: loopback, link-local
// (which includes cloud metadata at 169.254.169.254), private ranges,
// shared address space (RFC 6598), unspecified, multicast and the IPv6
// equivalents, IPv4-mapped forms included.
func checkDialAddress(address string, public func(netip.Addr) bool) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("dial %s: not an IP address", address)
	}
	if !public(ip) {
		return &privateAddrError{ip}
	}
	return nil
}

// nonPublic are ranges netip's predicates do not name that no feed
// lives on: "this network", shared address space (RFC 6598, carrier NAT),
// IETF protocol assignments, benchmarking (often used inside networks),
// reserved and broadcast, IPv6 site-local (deprecated, still routed by
// some), local-use NAT64 (RFC 8215, exists only inside a network) and the
// discard prefix.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("fec0::/10"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
}

// IPv6 prefixes that carry an IPv4 address a router or the host's own
// stack may deliver to: NAT64 (64:ff9b::/96, RFC 6052), IPv4-compatible
// (::/96), IPv4-translated (::ffff:0:0:0/96), 6to4 (2002::/16) and Teredo
// (2001::/32, the client's address inverted). An address under one of
// them is as internal as the IPv4 address it carries.
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	compatible = netip.MustParsePrefix("::/96")
	translated = netip.MustParsePrefix("::ffff:0:0:0/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	teredo     = netip.MustParsePrefix("2001::/32")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address carries, if any.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip), compatible.Contains(ip), translated.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case teredo.Contains(ip):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

// PublicAddr reports whether ip is an address on the public internet.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	if v4, ok := embeddedIPv4(ip); ok {
		return PublicAddr(v4)
	}
	return true
}

// internalHost returns the internal address a URL's host names without
// asking DNS (a literal IP, or a localhost name, RFC 6761), so that such a
// feed is refused when it is added rather than at every poll. Other names
// are checked after DNS, at dial time.
func internalHost(u *url.URL) (string, bool) {
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return host, true
	}
	if ip, err := netip.ParseAddr(host); err == nil && !PublicAddr(ip) {
		return ip.String(), true
	}
	return "", false
}

// Fetch makes one conditional GET. A 304 comes back as NotModified with
// no body read; any status other than 2xx and 304 is a *StatusError
// together with the Response, so the caller can honour Retry-After.
func (f *Fetcher) Fetch(ctx context.Context, r Request) (*Response, error) {
	f.init()
	u, err := CheckURL(r.URL)
	if err != nil {
		return nil, err
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", UserAgent())
	accept := r.Accept
	if accept == "" {
		accept = "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
	}
	req.Header.Set("Accept", accept)
	if r.ETag != "" {
		req.Header.Set("If-None-Match", r.ETag)
	}
	if r.LastModified != "" {
		req.Header.Set("If-Modified-Since", r.LastModified)
	}
	client := f.guarded
	if r.AllowPrivate || f.AllowPrivate {
		client = f.direct
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, describeFetchError(ctx, err, timeout)
	}
	defer resp.Body.Close()
	out := &Response{
		Status:       resp.StatusCode,
		URL:          resp.Request.URL.String(),
		Moved:        movedPermanently(resp),
		ContentType:  resp.Header.Get("Content-Type"),
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		MaxAge:       maxAge(resp.Header.Get("Cache-Control")),
		RetryAfter:   retryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		out.NotModified = true
		return out, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return out, &StatusError{resp.StatusCode, http.StatusText(resp.StatusCode)}
	}
	max := f.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return out, describeFetchError(ctx, err, timeout)
	}
	if int64(len(body)) > max {
		return out, fmt.Errorf("the response is larger than %d MB: digest reads no more", max>>20)
	}
	out.Body = body
	return out, nil
}

// describeFetchError turns transport errors into one line that says
// what happened.
func describeFetchError(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within %s (timeout)", timeout)
	}
	var pe *privateAddrError
	if errors.As(err, &pe) {
		host := ""
		var ue *url.Error
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil && u.Hostname() != pe.ip.String() {
				host = " (" + u.Hostname() + ")"
			}
		}
		return fmt.Errorf("refused to connect to %s%s, an internal address: %w; add the feed with --allow-private if it is an intranet feed", pe.ip, host, ErrPrivateAddress)
	}
	return err
}

// movedPermanently reports whether resp was reached through redirects
// that were all permanent.
func movedPermanently(resp *http.Response) bool {
	moved := false
	for r := resp.Request; r != nil && r.Response != nil; r = r.Response.Request {
		switch r.Response.StatusCode {
		case http.StatusMovedPermanently, http.StatusPermanentRedirect:
			moved = true
		default:
			return false
		}
	}
	return moved
}

// maxAge reads max-age from a Cache-Control header; no-store and
// no-cache say nothing about how often to poll.
func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if n, err := strconv.Atoi(strings.Trim(v, `"`)); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return 0
}

// retryAfter reads Retry-After in seconds or as an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
