package netbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"

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
			auth:       tok.Header(),
			userAgent:  cfg.UserAgent,
			sem:        make(chan struct{}, cfg.MaxConcurrent),
			timeout:    cfg.Timeout,
			maxRetries: cfg.MaxRetries,
			backoff:    cfg.RetryBackoff,
			maxBackoff: cfg.MaxBackoff,
			log:        cfg.Logger,
		},
		// NetBox redirects only to itself; a redirect elsewhere must not
		// carry the token, which net/http strips for other hosts anyway.
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
	Count   int               `json:"count"`
	Results []json.RawMessage `json:"results"`
}

// decoded is one page's objects, decoded where its request was made so
// that decoding overlaps with the other pages' round trips.
type decoded[T any] struct {
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
// skipped rather than failing the call. After the first page the rest are
// fetched in parallel by offset, bounded by MaxConcurrent.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	q = cloneValues(q)
	q.Set("limit", strconv.Itoa(c.pageSize))
	q.Set("offset", "0")
	var first page
	if err := c.do(ctx, http.MethodGet, path, q, nil, &first); err != nil {
		return nil, err
	}
	n := len(first.Results)
	pages := 0
	if n > 0 && first.Count > n {
		pages = (first.Count - n + c.pageSize - 1) / c.pageSize
	}
	all := make([]decoded[T], pages+1)
	errs := make([]error, pages)
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.maxConc)
	for i := range pages {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pq := cloneValues(q)
			pq.Set("offset", strconv.Itoa(n+i*c.pageSize))
			var p page
			if errs[i] = c.do(ctx, http.MethodGet, path, pq, nil, &p); errs[i] == nil {
				all[i+1] = decodePage[T](path, p.Results)
			}
		}()
	}
	all[0] = decodePage[T](path, first.Results)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	total := 0
	for _, d := range all {
		total += len(d.items)
	}
	out := make([]T, 0, total)
	// Objects created or deleted while paging shift offsets; an object
	// seen twice is kept once.
	seen := make(map[int]struct{}, total)
	for _, d := range all {
		for _, e := range d.bad {
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
