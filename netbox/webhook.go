package netbox

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SignatureHeader is the header NetBox puts a webhook's signature in.
const SignatureHeader = "X-Hook-Signature"

// Signature errors; all three wrap ErrSignature.
var (
	ErrSignature          = errors.New("netbox webhook signature")
	ErrSignatureMissing   = fmt.Errorf("%w: missing %s header", ErrSignature, SignatureHeader)
	ErrSignatureMalformed = fmt.Errorf("%w: malformed: want 128 hex digits of HMAC-SHA512, all in one case", ErrSignature)
	ErrSignatureMismatch  = fmt.Errorf("%w: does not match the body", ErrSignature)
	ErrNoSecret           = errors.New("netbox webhook: no secret configured")
)

// Sign returns the X-Hook-Signature NetBox sends for body: hex HMAC-SHA512
// with the webhook's secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha512.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks header (the X-Hook-Signature value) against body,
// in constant time. The signature is 128 hex digits in one case (NetBox
// sends lowercase); surrounding white space is dropped. An empty secret is refused, since NetBox then sends no
// signature and anyone could post events.
func VerifySignature(secret string, body []byte, header string) error {
	if secret == "" {
		return ErrNoSecret
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrSignatureMissing
	}
	// Compared as text, in one case: NetBox writes lowercase hex (Python's
	// hexdigest); all uppercase is accepted too, but not a mix, so that
	// any change of a byte of a signature is refused.
	if upper := strings.ToUpper(header); header == upper {
		header = strings.ToLower(header)
	}
	if len(header) != 2*sha512.Size || strings.IndexFunc(header, notLowerHex) >= 0 {
		return ErrSignatureMalformed
	}
	if !hmac.Equal([]byte(header), []byte(Sign(secret, body))) {
		return ErrSignatureMismatch
	}
	return nil
}

func notLowerHex(r rune) bool { return (r < '0' || r > '9') && (r < 'a' || r > 'f') }

// Webhook events NetBox sends for object changes.
const (
	EventCreated = "created"
	EventUpdated = "updated"
	EventDeleted = "deleted"
)

// WebhookPayload is the body of NetBox's default webhook.
type WebhookPayload struct {
	Event     string          `json:"event"`
	Timestamp Timestamp       `json:"timestamp"`
	Model     string          `json:"model"` // "device", "interface", ...
	Username  string          `json:"username"`
	RequestID string          `json:"request_id"`
	Data      json.RawMessage `json:"data"`
	Snapshots Snapshots       `json:"snapshots"`
}

// Snapshots are the object's serialized state before and after the change;
// either is null for creations and deletions.
type Snapshots struct {
	Prechange  json.RawMessage `json:"prechange"`
	Postchange json.RawMessage `json:"postchange"`
}

// ParseWebhook decodes a webhook body. Verify the signature first.
func ParseWebhook(body []byte) (WebhookPayload, error) {
	var p WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return WebhookPayload{}, fmt.Errorf("parse webhook: %w", err)
	}
	if p.Event == "" || p.Model == "" {
		return WebhookPayload{}, errors.New("parse webhook: missing event or model")
	}
	return p, nil
}

// Device decodes Data as a device; an error if Model is not "device".
func (p WebhookPayload) Device() (Device, error) {
	var d Device
	return d, p.decode("device", &d)
}

// Interface decodes Data as an interface.
func (p WebhookPayload) Interface() (Interface, error) {
	var i Interface
	return i, p.decode("interface", &i)
}

// Cable decodes Data as a cable.
func (p WebhookPayload) Cable() (Cable, error) {
	var c Cable
	return c, p.decode("cable", &c)
}

func (p WebhookPayload) decode(model string, v any) error {
	if p.Model != model {
		return fmt.Errorf("webhook data: model is %q, not %q", p.Model, model)
	}
	if err := json.Unmarshal(p.Data, v); err != nil {
		return fmt.Errorf("webhook data (%s): %w", model, err)
	}
	return nil
}

// Timestamp reads NetBox's webhook time, which is Python's str(datetime)
// ("2024-05-01 10:00:00.123456+00:00"), as well as RFC 3339.
type Timestamp struct{ time.Time }

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05Z07:00",
}

// UnmarshalJSON parses the layouts NetBox has used.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	for _, l := range timestampLayouts {
		if v, err := time.Parse(l, s); err == nil {
			t.Time = v
			return nil
		}
	}
	return fmt.Errorf("timestamp %q: want RFC 3339 or \"YYYY-MM-DD HH:MM:SS.ffffff+HH:MM\"", s)
}

// MarshalJSON writes RFC 3339.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.Format(time.RFC3339Nano))
}
