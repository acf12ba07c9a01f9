package netbox

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// transport is the one place every request passes, whether it comes from
// this package or from go-netbox's generated client: it sets the
// Authorization header for the token's kind (go-netbox only knows "Token"),
// caps concurrency, bounds each attempt and retries what is safe to retry.
//
// The token goes only to NetBox's own origin (scheme, host and port of
// base). net/http's Client strips an Authorization header the caller set
// when a redirect leaves the host, but this transport adds the header to
// every request it sends, redirects included, so it checks each one.
type transport struct {
	next       http.RoundTripper
	base       *url.URL
	auth       string
	userAgent  string
	sem        chan struct{}
	timeout    time.Duration
	maxRetries int
	backoff    time.Duration
	maxBackoff time.Duration
	log        *slog.Logger
}

// retryable reports whether a request may be sent again. POST creates
// objects, so a retry after a lost answer would create a duplicate. PATCH
// is retried because this package's PATCH bodies set absolute values.
func retryable(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

func retryStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	attempts := 1
	if retryable(req.Method) && (req.Body == nil || req.GetBody != nil) {
		attempts += t.maxRetries
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		resp, err := t.once(ctx, req, attempt)
		if err == nil && !retryStatus(resp.StatusCode) {
			return resp, nil
		}
		if ctx.Err() != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return nil, ctx.Err()
		}
		if attempt >= attempts {
			return resp, err
		}
		delay := t.delay(attempt)
		if err != nil {
			lastErr = err
			t.log.DebugContext(ctx, "netbox request failed, retrying",
				slog.String("method", req.Method), slog.String("path", req.URL.Path),
				slog.Int("attempt", attempt), slog.Duration("delay", delay), slog.String("error", err.Error()))
		} else {
			if ra := retryAfter(resp.Header.Get("Retry-After")); ra > 0 {
				delay = min(ra, t.maxBackoff)
			}
			t.log.DebugContext(ctx, "netbox answered with a retryable status, retrying",
				slog.String("method", req.Method), slog.String("path", req.URL.Path),
				slog.Int("status", resp.StatusCode), slog.Int("attempt", attempt), slog.Duration("delay", delay))
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			if lastErr != nil {
				return nil, errors.Join(ctx.Err(), lastErr)
			}
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// once sends one attempt. The concurrency slot and the attempt's timeout
// are held until the body is closed, so a slow reader still counts.
func (t *transport) once(ctx context.Context, orig *http.Request, attempt int) (*http.Response, error) {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	actx, cancel := context.WithTimeout(ctx, t.timeout)
	req := orig.Clone(actx)
	if attempt > 1 && orig.GetBody != nil {
		b, err := orig.GetBody()
		if err != nil {
			cancel()
			<-t.sem
			return nil, err
		}
		req.Body = b
	}
	if sameOrigin(t.base, req.URL) {
		req.Header.Set("Authorization", t.auth)
	} else {
		req.Header.Del("Authorization")
	}
	req.Header.Set("Accept", "application/json")
	if t.userAgent != "" {
		req.Header.Set("User-Agent", t.userAgent)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		cancel()
		<-t.sem
		return nil, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: func() { cancel(); <-t.sem }}
	return resp, nil
}

// sameOrigin reports whether u has base's scheme, host and port (the
// scheme's default port when none is given); hosts compare without case.
func sameOrigin(base, u *url.URL) bool {
	if u == nil || u.User != nil || !strings.EqualFold(base.Scheme, u.Scheme) {
		return false
	}
	return strings.EqualFold(base.Hostname(), u.Hostname()) && originPort(base) == originPort(u)
}

func originPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// delay is exponential backoff with jitter in [d/2, d].
func (t *transport) delay(attempt int) time.Duration {
	d := t.backoff << (attempt - 1)
	if d <= 0 || d > t.maxBackoff {
		d = t.maxBackoff
	}
	half := d / 2
	return half + rand.N(half+1)
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return time.Until(at)
	}
	return 0
}

type releaseBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
