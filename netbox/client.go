package netbox

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"

	gonetbox "github.com/netbox-community/go-netbox/v4"
)

// Client talks to one NetBox. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	http     *http.Client
	api      *gonetbox.APIClient
	token    Token
	pageSize int
	maxConc  int
	log      *slog.Logger
	onDecode func(*DecodeError)

	decodeErrors atomic.Uint64
}

// New checks cfg and builds a Client. It does not contact NetBox; Check does.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	base, err := cfg.baseURL()
	if err != nil {
		return nil, err
	}
	tok, err := cfg.resolveToken()
	if err != nil {
		return nil, err
	}
	next, err := cfg.baseTransport()
	if err != nil {
		return nil, err
	}
	hc := &http.Client{
		Transport: &transport{
			next:       next,
			base:       base,
			auth:       tok.Header(),
			userAgent:  cfg.UserAgent,
			sem:        make(chan struct{}, cfg.MaxConcurrent),
			timeout:    cfg.Timeout,
			maxRetries: cfg.MaxRetries,
			backoff:    cfg.RetryBackoff,
			maxBackoff: cfg.MaxBackoff,
			log:        cfg.Logger,
		},
		// A redirect elsewhere is followed without the token: the
		// transport sends it only to base's scheme, host and port.
	}
	gc := gonetbox.NewConfiguration()
	gc.Servers = gonetbox.ServerConfigurations{{URL: base.String()}}
	gc.HTTPClient = hc
	gc.UserAgent = cfg.UserAgent
	c := &Client{
		base:     base,
		http:     hc,
		api:      gonetbox.NewAPIClient(gc),
		token:    tok,
		pageSize: cfg.PageSize,
		maxConc:  cfg.MaxConcurrent,
		log:      cfg.Logger,
		onDecode: cfg.OnDecodeError,
	}
	if c.onDecode == nil {
		c.onDecode = func(e *DecodeError) {
			c.log.Warn("netbox object skipped", slog.String("path", e.Path), slog.Int("id", e.ID), slog.String("error", e.Err.Error()))
		}
	}
	return c, nil
}

// URL is NetBox's base URL as the client uses it.
func (c *Client) URL() string { return c.base.String() }

// TokenKind is the kind of the configured token.
func (c *Client) TokenKind() TokenKind { return c.token.Kind() }

// API is go-netbox's generated client, sharing this client's transport
// (auth, retries, limits). Its decoding is strict: prefer this package's
// methods for reads.
func (c *Client) API() *gonetbox.APIClient { return c.api }

func (c *Client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do sends one request and decodes a 2xx JSON answer into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path, q), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		shown := path
		if len(q) > 0 {
			shown += "?" + q.Encode()
		}
		return newAPIError(method, shown, resp.StatusCode, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// unwrapURLError drops *url.Error's copy of the URL: it is noise next to the
// path we already print.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

type page struct {
	Count int `json:"count"`
	// Next is NetBox's link to the following page: absent (nil), null
	// or a URL. Only whether there is one is used; the link itself is
	// never followed, so a NetBox that names another host gets nothing.
	Next    json.RawMessage   `json:"next"`
	Results []json.RawMessage `json:"results"`
}

// more reports whether a page at offset off says that objects follow it:
// its next link when the answer has one (NetBox always sends it), else
// its count. An empty page ends the list whatever it says.
func (p *page) more(off int) bool {
	if len(p.Results) == 0 {
		return false
	}
	if p.Next != nil {
		return !bytes.Equal(bytes.TrimSpace(p.Next), []byte("null"))
	}
	return off+len(p.Results) < p.Count
}

// parsePage reads one list answer.
func parsePage(data []byte) (page, error) {
	var p page
	if err := json.Unmarshal(data, &p); err != nil {
		return page{}, err
	}
	return p, nil
}

// decoded is one page's objects, decoded where its request was made so
// that decoding overlaps with the other pages' round trips.
type decoded[T any] struct {
	off   int
	items []T
	ids   []int
	bad   []*DecodeError
}

// identified lets list drop an object seen on two pages without decoding
// it twice.
type identified interface{ objectID() int }

func decodePage[T any](path string, raws []json.RawMessage) decoded[T] {
	out := decoded[T]{items: make([]T, 0, len(raws)), ids: make([]int, 0, len(raws))}
	for _, raw := range raws {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			var id struct {
				ID int `json:"id"`
			}
			_ = json.Unmarshal(raw, &id)
			out.bad = append(out.bad, &DecodeError{Path: path, ID: id.ID, Err: err})
			continue
		}
		id := 0
		if o, ok := any(&v).(identified); ok {
			id = o.objectID()
		}
		out.items = append(out.items, v)
		out.ids = append(out.ids, id)
	}
	return out
}

// list reads every page of a list endpoint and decodes each object on its
// own, so that one object go-netbox (or we) could not read is reported and
// skipped rather than failing the call.
//
// NetBox cuts a limit above its MAX_PAGE_SIZE to it, so the pages after
// the first are read at offsets that step by the length of the first page
// as it arrived, not by the limit asked for. They are fetched in parallel,
// bounded by MaxConcurrent, as far as the first page's count says, and
// further while the last page read says more follow (objects created
// meanwhile). The count only decides how far to read ahead: it sizes no
// allocation, so a count of 10^12 costs what the server actually sends.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	q = cloneValues(q)
	q.Set("limit", strconv.Itoa(c.pageSize))
	q.Set("offset", "0")
	first, err := c.getPage(ctx, path, q)
	if err != nil {
		return nil, err
	}
	pages := []decoded[T]{decodePage[T](path, first.Results)}
	pages[0].off = 0
	if step := len(first.Results); first.more(0) {
		rest, err := restPages[T](ctx, c, path, q, step, first.Count)
		if err != nil {
			return nil, err
		}
		pages = append(pages, rest...)
	}
	slices.SortFunc(pages, func(a, b decoded[T]) int { return cmp.Compare(a.off, b.off) })
	total := 0
	for _, d := range pages {
		total += len(d.items)
	}
	out := make([]T, 0, total)
	// Objects created or deleted while paging shift offsets; an object
	// seen twice is kept once.
	seen := make(map[int]struct{}, total)
	for _, d := range pages {
		for _, e := range d.bad {
			c.decodeErrors.Add(1)
			c.onDecode(e)
		}
		for i, v := range d.items {
			if id := d.ids[i]; id != 0 {
				if _, dup := seen[id]; dup {
					continue
				}
				seen[id] = struct{}{}
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// restPages reads the pages after the first, which held step objects, at
// offsets step, 2*step, ...: in parallel up to count, then for as long as
// the page at the furthest offset says that more follow. A page that ends
// the list stops the reading of offsets beyond it.
func restPages[T any](ctx context.Context, c *Client, path string, q url.Values, step, count int) ([]decoded[T], error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		off  int
		d    decoded[T]
		more bool
		err  error
	}
	results := make(chan result)
	var (
		out      []decoded[T]
		firstErr error
		inFlight int
		next     = step
		frontier = max(count, step+1) // offsets below it are read; the first page said more follow
		end      = math.MaxInt        // no object lies at or beyond it
	)
	for {
		for firstErr == nil && inFlight < c.maxConc && next < frontier && next < end {
			off := next
			next += step
			inFlight++
			go func() {
				pq := cloneValues(q)
				pq.Set("offset", strconv.Itoa(off))
				p, err := c.getPage(ctx, path, pq)
				r := result{off: off, err: err}
				if err == nil {
					r.d, r.more = decodePage[T](path, p.Results), p.more(off)
					r.d.off = off
				}
				results <- r
			}()
		}
		if inFlight == 0 {
			break
		}
		r := <-results
		inFlight--
		if r.err != nil {
			if firstErr == nil {
				firstErr = r.err
				cancel()
			}
			continue
		}
		out = append(out, r.d)
		n := len(r.d.items) + len(r.d.bad)
		if r.more {
			frontier = max(frontier, r.off+step+1)
		} else {
			end = min(end, r.off+n)
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// getPage reads one page of a list.
func (c *Client) getPage(ctx context.Context, path string, q url.Values) (page, error) {
	var p page
	err := c.do(ctx, http.MethodGet, path, q, nil, &p)
	return p, err
}

// DecodeErrors is how many objects of list answers this client could not
// decode and skipped since it was made (each was handed to
// Config.OnDecodeError, or logged as a warning).
func (c *Client) DecodeErrors() uint64 { return c.decodeErrors.Load() }

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q)+2)
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// one returns the single object a filter matches.
func one[T any](ctx context.Context, c *Client, path string, q url.Values) (T, error) {
	var zero T
	items, err := list[T](ctx, c, path, q)
	if err != nil {
		return zero, err
	}
	switch len(items) {
	case 0:
		return zero, ErrNotFound
	case 1:
		return items[0], nil
	}
	return zero, fmt.Errorf("%w (%d)", ErrAmbiguous, len(items))
}

// toMap turns a go-netbox request body into a map so that an "id" can be
// added for a bulk PATCH, which go-netbox's types cannot express.
func toMap(v interface {
	ToMap() (map[string]any, error)
}) (map[string]any, error) {
	return v.ToMap()
}
