package statemachine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Record is a device's state as a Store keeps it: the raw values of the NetBox
// custom fields device_state and device_transition. The Machine encodes and
// parses these strings; a Store only keeps them.
type Record struct {
	// State is device_state: "<state>" when settled, "<target>-phase_<n>"
	// while a transition runs. Empty means the device is new (state "0").
	State string `json:"device_state"`
	// Transition is device_transition: "from_<cur>-to_<tgt>-phase_<n>" while a
	// transition runs, "" (or "0") when settled.
	Transition string `json:"device_transition"`
}

// Store persists device state records. Implementations must make Save
// atomic for both fields: a reader never sees the State of one write and the
// Transition of another. Load of a device the store does not know returns an
// error for which errors.Is(err, ErrDeviceNotFound) is true.
type Store interface {
	Load(ctx context.Context, device string) (Record, error)
	Save(ctx context.Context, device string, rec Record) error
}

// ErrDeviceNotFound is returned (wrapped) by a Store that does not know a device.
var ErrDeviceNotFound = errors.New("device not found")

// MemoryStore is a Store in memory, for tests, examples and benchmarks. It is
// safe for concurrent use. The zero value is ready to use.
type MemoryStore struct {
	shards [64]memoryShard
}

type memoryShard struct {
	mu      sync.RWMutex
	records map[string]Record
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

func (s *MemoryStore) shard(device string) *memoryShard {
	// FNV-1a, inlined to avoid an allocation per lookup.
	h := uint32(2166136261)
	for i := 0; i < len(device); i++ {
		h ^= uint32(device[i])
		h *= 16777619
	}
	return &s.shards[h%uint32(len(s.shards))]
}

// Add registers devices as new (device_state "0", no transition). Devices the
// store already knows keep their record.
func (s *MemoryStore) Add(devices ...string) {
	for _, d := range devices {
		sh := s.shard(d)
		sh.mu.Lock()
		if sh.records == nil {
			sh.records = make(map[string]Record)
		}
		if _, ok := sh.records[d]; !ok {
			sh.records[d] = Record{State: string(StateNew)}
		}
		sh.mu.Unlock()
	}
}

// Load returns the record of device.
func (s *MemoryStore) Load(_ context.Context, device string) (Record, error) {
	sh := s.shard(device)
	sh.mu.RLock()
	rec, ok := sh.records[device]
	sh.mu.RUnlock()
	if !ok {
		return Record{}, fmt.Errorf("load state of device %q: %w", device, ErrDeviceNotFound)
	}
	return rec, nil
}

// Save stores the record of device, adding the device if it is new.
func (s *MemoryStore) Save(_ context.Context, device string, rec Record) error {
	if device == "" {
		return errors.New("save state: empty device name")
	}
	sh := s.shard(device)
	sh.mu.Lock()
	if sh.records == nil {
		sh.records = make(map[string]Record)
	}
	sh.records[device] = rec
	sh.mu.Unlock()
	return nil
}

// Devices returns the names of all devices in the store, sorted.
func (s *MemoryStore) Devices() []string {
	var out []string
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for d := range sh.records {
			out = append(out, d)
		}
		sh.mu.RUnlock()
	}
	sort.Strings(out)
	return out
}
