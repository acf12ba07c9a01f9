package services

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// IronicEvent is one of Ironic's versioned notifications, decoded from
// its oslo.messaging envelope. Node is set for baremetal.node.* events.
type IronicEvent struct {
	// MessageID is oslo's message_id, unique per notification; a message
	// without one gets the hash of its body, so that a redelivery keeps
	// its id.
	MessageID   string `json:"message_id"`
	EventType   string `json:"event_type"`
	PublisherID string `json:"publisher_id,omitempty"`
	Priority    string `json:"priority,omitempty"`
	Timestamp   string `json:"timestamp,omitempty"`
	// Object is the payload's ironic_object.name (NodeSetPowerStatePayload, ...).
	Object string      `json:"object,omitempty"`
	Node   *IronicNode `json:"node,omitempty"`
}

// IronicNode is what the listener reads of a node payload. Nil pointers
// are fields the payload has as null or lacks.
type IronicNode struct {
	UUID                   string  `json:"uuid"`
	Name                   string  `json:"name,omitempty"`
	ProvisionState         *string `json:"provision_state"`
	TargetProvisionState   *string `json:"target_provision_state,omitempty"`
	PreviousProvisionState *string `json:"previous_provision_state,omitempty"`
	Event                  *string `json:"event,omitempty"`
	PowerState             *string `json:"power_state"`
	Maintenance            *bool   `json:"maintenance"`
	MaintenanceReason      *string `json:"maintenance_reason,omitempty"`
	InspectionFinishedAt   *string `json:"inspection_finished_at,omitempty"`
	LastError              *string `json:"last_error,omitempty"`
}

// DecodeError is why a message is no Ironic notification; such a message
// goes to the dead-letter queue with Reason.
type DecodeError struct{ Reason string }

func (e *DecodeError) Error() string { return "undecodable notification: " + e.Reason }

func undecodable(format string, args ...any) error {
	return &DecodeError{Reason: fmt.Sprintf(format, args...)}
}

// DecodeIronicNotification decodes an oslo.messaging 2.0 envelope
// ({"oslo.version": "2.0", "oslo.message": "<JSON text>"}), or a bare
// notification as the messaging v1 driver sends it, into an IronicEvent.
// It fails with a *DecodeError naming what is wrong: not JSON, another
// envelope version, no event_type, a node payload without
// ironic_object.data.
func DecodeIronicNotification(body []byte) (IronicEvent, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		return IronicEvent{}, undecodable("body is not a JSON object: %s", jsonReason(err))
	}
	inner := body
	if raw, ok := env["oslo.message"]; ok {
		if v, ok := env["oslo.version"]; ok {
			var ver string
			if json.Unmarshal(v, &ver) != nil || !strings.HasPrefix(ver, "2.") {
				return IronicEvent{}, undecodable("oslo.version %s: expected \"2.0\"", excerptJSON(v))
			}
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return IronicEvent{}, undecodable("oslo.message is not a JSON string: %s", jsonReason(err))
		}
		inner = []byte(s)
	}
	var msg struct {
		MessageID   string `json:"message_id"`
		EventType   string `json:"event_type"`
		PublisherID string `json:"publisher_id"`
		Priority    string `json:"priority"`
		Timestamp   string `json:"timestamp"`
		Payload     *struct {
			Name string          `json:"ironic_object.name"`
			Data json.RawMessage `json:"ironic_object.data"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(inner, &msg); err != nil {
		return IronicEvent{}, undecodable("oslo.message is not a notification: %s", jsonReason(err))
	}
	if msg.EventType == "" {
		return IronicEvent{}, undecodable("no event_type")
	}
	ev := IronicEvent{MessageID: msg.MessageID, EventType: msg.EventType, PublisherID: msg.PublisherID,
		Priority: msg.Priority, Timestamp: msg.Timestamp}
	if ev.MessageID == "" {
		sum := sha256.Sum256(body)
		ev.MessageID = "sha256:" + hex.EncodeToString(sum[:16])
	}
	if msg.Payload != nil {
		ev.Object = msg.Payload.Name
	}
	if strings.HasPrefix(ev.EventType, "baremetal.node.") {
		if msg.Payload == nil || len(msg.Payload.Data) == 0 || bytes.Equal(msg.Payload.Data, []byte("null")) {
			return IronicEvent{}, undecodable("%s: payload has no ironic_object.data", ev.EventType)
		}
		var n IronicNode
		if err := json.Unmarshal(msg.Payload.Data, &n); err != nil {
			return IronicEvent{}, undecodable("%s: ironic_object.data is not a node: %s", ev.EventType, jsonReason(err))
		}
		ev.Node = &n
	}
	return ev, nil
}

// jsonReason is a JSON error without the input it may quote.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %s is a JSON %s, expected %s", te.Field, te.Value, te.Type)
		}
		return fmt.Sprintf("a JSON %s, expected %s", te.Value, te.Type)
	}
	return "invalid JSON"
}

func excerptJSON(b []byte) string {
	if len(b) > 20 {
		return string(b[:20]) + "..."
	}
	return string(b)
}

// The NetBox custom fields the listener writes.
const (
	cfProvisionState = "provision_state"
	cfPowerState     = "power_state"
	cfMaintenance    = "maintenance"
	cfDeviceState    = "device_state"
)

// ironicFields are the custom fields of the node's device that ev sets,
// and whether the listener knows ev at all:
//   - power_set.end, power_state_corrected.success: power_state;
//   - maintenance_set.end: maintenance;
//   - provision_set.*: provision_state;
//   - create.end: provision_state and power_state;
//   - delete.end: provision_state null, power_state "n/a".
func ironicFields(ev IronicEvent) (map[string]any, bool) {
	if ev.Node == nil {
		return nil, false
	}
	n := ev.Node
	str := func(p *string) any {
		if p == nil {
			return nil
		}
		return *p
	}
	switch t := strings.TrimPrefix(ev.EventType, "baremetal.node."); {
	case t == "power_set.end", t == "power_state_corrected.success":
		return map[string]any{cfPowerState: str(n.PowerState)}, true
	case t == "maintenance_set.end":
		var m any
		if n.Maintenance != nil {
			m = *n.Maintenance
		}
		return map[string]any{cfMaintenance: m}, true
	case strings.HasPrefix(t, "provision_set."):
		return map[string]any{cfProvisionState: str(n.ProvisionState)}, true
	case t == "create.end":
		return map[string]any{cfProvisionState: str(n.ProvisionState), cfPowerState: str(n.PowerState)}, true
	case t == "delete.end":
		return map[string]any{cfProvisionState: nil, cfPowerState: "n/a"}, true
	}
	return nil, false
}

// fieldsDiff are the fields of want whose value differs from have's.
func fieldsDiff(have map[string]any, want map[string]any) map[string]any {
	var diff map[string]any
	for k, v := range want {
		if sameValue(have[k], v) {
			continue
		}
		if diff == nil {
			diff = map[string]any{}
		}
		diff[k] = v
	}
	return diff
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}

// transitionFor is the device state the first matching rule of rules
// moves the device to ("" if none); deviceState is the device's current
// device_state ("" reads as "0").
func transitionFor(rules []ListenerTransition, ev IronicEvent, deviceState string) (ListenerTransition, bool) {
	if ev.Node == nil {
		return ListenerTransition{}, false
	}
	if deviceState == "" {
		deviceState = "0"
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	in := func(list []string, v string) bool {
		if len(list) == 0 {
			return true
		}
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	for _, r := range rules {
		matched := false
		for _, p := range r.Events {
			if matchEvent(p, ev.EventType) {
				matched = true
				break
			}
		}
		if !matched ||
			!in(r.From, deref(ev.Node.PreviousProvisionState)) ||
			!in(r.To, deref(ev.Node.ProvisionState)) ||
			!in(r.DeviceStates, deviceState) ||
			(r.Inspected && deref(ev.Node.InspectionFinishedAt) == "") {
			continue
		}
		return r, true
	}
	return ListenerTransition{}, false
}
