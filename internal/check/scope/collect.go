package scope

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// side is one tenant as the probe knows it: its callers and what its lists showed them.
type side struct {
	tenant  tenantRef
	host    string
	callers []*caller
	// lists maps a list route's pattern to the ids and slugs of its items.
	lists map[string]*listing
	// objects maps each item id to the item (canonical JSON) per route, to tell a user that
	// belongs to both tenants from a row that leaked.
	objects map[string]map[string]string
	// listStatus is the status each caller got from each list route.
	listStatus map[string]int
	// foreign are the other tenant's ids this tenant must never see; foreignSlugs the other
	// tenant's slugs this tenant does not use itself.
	foreign      map[string]bool
	foreignSlugs map[string]bool
	slugs        map[string]bool
}

func newSide(t tenantRef) *side {
	return &side{tenant: t, lists: map[string]*listing{}, objects: map[string]map[string]string{},
		listStatus: map[string]int{}, slugs: map[string]bool{}}
}

// listing is what one list route showed (to any of the tenant's callers).
type listing struct {
	ids   []string
	slugs []string
}

func (l *listing) add(id, slug string) {
	if id != "" && !contains(l.ids, id) {
		l.ids = append(l.ids, id)
	}
	if slug != "" && !contains(l.slugs, slug) {
		l.slugs = append(l.slugs, slug)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// collect reads every list route (GET without path parameters) as each of the tenant's
// callers allowed to, and the public lists of the tenant's host as nobody.
func (p *prober) collect(ctx context.Context, s *side) error {
	idx := p.sideIndex(s)
	for _, o := range p.ops {
		if !o.list() {
			continue
		}
		switch {
		case o.kind == "tenant":
			for _, c := range s.callers {
				if !c.perms[o.permission] {
					continue
				}
				res, err := p.c.do(ctx, request{method: "GET", path: o.path, as: c})
				if err != nil {
					return err
				}
				s.listStatus[o.path+"\x00"+c.label] = res.status
				p.keep(idx, o.key(), "list", c.label, res)
				if res.status == http.StatusOK {
					s.absorb(o.path, res.body)
				}
			}
		case o.kind == "public" && o.hostTenant:
			res, err := p.c.do(ctx, request{method: "GET", path: o.path, host: s.host})
			if err != nil {
				return err
			}
			s.listStatus[o.path+"\x00"] = res.status
			p.keep(idx, o.key(), "list on "+s.host, "anonymous", res)
			if res.status == http.StatusOK {
				s.absorb(o.path, res.body)
			}
			// At the apex a public tenant route serves the signed-in caller's tenant.
			c := s.callers[0]
			res, err = p.c.do(ctx, request{method: "GET", path: o.path, as: c})
			if err != nil {
				return err
			}
			p.keep(idx, o.key(), "list at the apex", c.label, res)
			if res.status == http.StatusOK {
				s.absorb(o.path, res.body)
			}
		}
	}
	return nil
}

func (p *prober) sideIndex(s *side) int {
	if p.sides[0] == s {
		return 0
	}
	return 1
}

// keep remembers an answer given to tenant idx's callers (or on its host), to be searched for
// the other tenant's ids once those are known.
func (p *prober) keep(idx int, route, probe, who string, res *response) {
	p.seen[idx] = append(p.seen[idx], seenResponse{route: route, probe: probe, caller: who, body: res.body})
}

// absorb takes the ids and slugs of a list's items.
func (s *side) absorb(route string, body []byte) {
	var doc struct {
		Items *[]map[string]json.RawMessage `json:"items"`
	}
	if json.Unmarshal(body, &doc) != nil || doc.Items == nil {
		return
	}
	l := s.lists[route]
	if l == nil {
		l = &listing{}
		s.lists[route] = l
	}
	for _, it := range *doc.Items {
		var id, slug string
		_ = json.Unmarshal(it["id"], &id)
		_ = json.Unmarshal(it["slug"], &slug)
		if !uuidPattern.MatchString(id) {
			id = ""
		}
		id = strings.ToLower(id)
		l.add(id, slug)
		if slug != "" {
			s.slugs[slug] = true
		}
		if id != "" {
			canon, _ := json.Marshal(it)
			if s.objects[id] == nil {
				s.objects[id] = map[string]string{}
			}
			s.objects[id][route] = string(canon)
		}
	}
}

var uuidPattern = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)

// foreignSets decides, for each tenant, which of the other tenant's ids and slugs it must
// never see, and reports objects that both tenants' lists show alike.
//
// An id is a tenant's own when one of its lists shows it and the other tenant's same list
// (read as well) does not, or when the other tenant never saw it at all. An id both tenants
// list on the same route is either a person with a membership in each (users are global; each
// tenant's view of them differs, if only in the membership's role and dates) or one row seen
// by two tenants: the very same object. The latter is reported as a leak on that route. The
// other tenant's own ids, less this tenant's own and the shared people, are foreign. It
// returns how many ids were found to be shared.
func (p *prober) foreignSets() int {
	a, b := p.sides[0], p.sides[1]
	exclusive := func(s, other *side) map[string]bool {
		m := map[string]bool{}
		for id, routes := range s.objects {
			if other.objects[id] == nil {
				m[id] = true
				continue
			}
			for route := range routes {
				if other.lists[route] != nil && other.objects[id][route] == "" {
					m[id] = true
				}
			}
		}
		return m
	}
	excl := [2]map[string]bool{exclusive(a, b), exclusive(b, a)}
	shared := map[string]bool{}
	ids := make([]string, 0, len(a.objects))
	for id := range a.objects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rb, ok := b.objects[id]
		if !ok {
			continue
		}
		same := false
		routes := make([]string, 0, len(a.objects[id]))
		for route := range a.objects[id] {
			routes = append(routes, route)
		}
		sort.Strings(routes)
		for _, route := range routes {
			if rb[route] == a.objects[id][route] {
				same = true
				p.record("GET "+route, "same object in both tenants' lists", "", "each tenant's own rows only",
					id+" in "+a.tenant.Slug+"'s and "+b.tenant.Slug+"'s list", Leak)
			}
		}
		if !same && !excl[0][id] && !excl[1][id] {
			shared[id] = true
		}
	}
	for i, s := range p.sides {
		other := p.sides[1-i]
		mine := map[string]bool{strings.ToLower(s.tenant.ID): true}
		for _, c := range s.callers {
			mine[strings.ToLower(c.userID)] = true
		}
		s.foreign = map[string]bool{strings.ToLower(other.tenant.ID): true}
		for id := range excl[1-i] {
			if !excl[i][id] && !shared[id] && !mine[id] {
				s.foreign[id] = true
			}
		}
		s.foreignSlugs = map[string]bool{}
		for slug := range other.slugs {
			if !s.slugs[slug] {
				s.foreignSlugs[slug] = true
			}
		}
	}
	return len(shared)
}

// candidates returns up to n of the victim's ids (or slugs) for a route with a path parameter:
// those of the list the route belongs to (its path up to the parameter, or a list that ends in
// the same collection name, or one named after the parameter), else any.
//
// For a route that changes data (write is set) an id any of the attacker's own lists showed is
// never chosen, whatever else the lists say: the probe must not change the attacker's data.
func (p *prober) candidates(attacker, victim *side, path, param string, n int, write bool) []string {
	slug := strings.Contains(strings.ToLower(param), "slug")
	pick := func(routes []string) []string {
		var out []string
		for _, r := range routes {
			l := victim.lists[r]
			if l == nil {
				continue
			}
			vals := l.ids
			if slug {
				vals = l.slugs
			}
			for _, v := range vals {
				ok := attacker.foreign[v] && (!write || attacker.objects[v] == nil)
				if slug {
					ok = attacker.foreignSlugs[v]
				}
				if ok && !contains(out, v) && len(out) < n {
					out = append(out, v)
				}
			}
		}
		return out
	}
	prefix := path
	if i := strings.Index(path, "/{"); i >= 0 {
		prefix = path[:i]
	}
	if out := pick([]string{prefix}); len(out) > 0 {
		return out
	}
	var routes []string
	for r := range victim.lists {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	last := prefix[strings.LastIndex(prefix, "/")+1:]
	var same []string
	for _, r := range routes {
		if strings.HasSuffix(r, "/"+last) {
			same = append(same, r)
		}
	}
	if out := pick(same); len(out) > 0 {
		return out
	}
	if base, ok := strings.CutSuffix(param, "Id"); ok && base != "" {
		var named []string
		for _, r := range routes {
			if strings.HasSuffix(r, "/"+base+"s") {
				named = append(named, r)
			}
		}
		if out := pick(named); len(out) > 0 {
			return out
		}
	}
	return pick(routes)
}
