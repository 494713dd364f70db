package call

import "sync"

// Registry holds the live calls, keyed by SIP dialog.
type Registry struct {
	mu    sync.RWMutex
	calls map[string]*Call
}

// NewRegistry makes an empty registry.
func NewRegistry() *Registry { return &Registry{calls: make(map[string]*Call)} }

// Add registers a call under key.
func (r *Registry) Add(key string, c *Call) {
	r.mu.Lock()
	r.calls[key] = c
	r.mu.Unlock()
}

// Get finds a live call.
func (r *Registry) Get(key string) *Call {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.calls[key]
}

// Remove forgets a call.
func (r *Registry) Remove(key string) {
	r.mu.Lock()
	delete(r.calls, key)
	r.mu.Unlock()
}

// Len is the number of live calls.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.calls)
}

// All is a snapshot of the live calls.
func (r *Registry) All() []*Call {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Call, 0, len(r.calls))
	for _, c := range r.calls {
		out = append(out, c)
	}
	return out
}
