package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Messages for object keys strictKeys refuses.
const (
	unknownKeyMsg   = "is not a known field"
	duplicateKeyMsg = "appears more than once"
)

// strictKeys checks every object key of body against the type t it is decoded into and
// returns the first key (as path.to.key, in the path style of the other field errors) that
// is not exactly one of its target struct's JSON names, or that appears twice in one object.
//
// encoding/json matches keys to fields case-insensitively (and with Unicode folding: "ſ"
// matches "s") and lets the last of two equal keys win, so without this pass a body such as
// {"amount_cents":5,"Amount_Cents":7} is accepted with 7, and a client's misspelled or
// smuggled key is taken for a field. SPEC §3 refuses unknown fields; a key in another case is
// one, and a body with two values for one field says nothing unambiguous.
//
// It is one pass over the bytes of a body whose first JSON value is well-formed (the caller
// has decoded it, or checked it with json.Valid); it reads that value only. (encoding/json's
// Decoder.Token could do the walking, but at a few times the cost of the decoding itself.)
func strictKeys(body []byte, t reflect.Type) (field, msg string) {
	ks := keyScanner{b: body}
	return ks.value(t, "", 0)
}

// maxKeyDepth bounds the nesting strictKeys follows, as encoding/json bounds its own (which
// refuses deeper bodies first): the walk is recursive.
const maxKeyDepth = 10000

// keyScanner walks a well-formed JSON value.
type keyScanner struct {
	b []byte
	i int
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	optionalFieldType   = reflect.TypeFor[optionalField]()
)

// keyShape is how a target type takes a JSON object or array.
type keyShape int

const (
	shapeAny    keyShape = iota // an interface: any keys, any values (duplicates still refused)
	shapeStruct                 // a struct: only its JSON names
	shapeMap                    // a map: any keys, values of its element type
	shapeList                   // a slice or array: elements of its element type
	shapeOpaque                 // decodes itself, or does not take this value: not descended into
)

// targetCache holds target's answer per type.
var targetCache sync.Map // reflect.Type → resolved

type resolved struct {
	t     reflect.Type
	shape keyShape
}

// cachedTarget is target, remembered: it runs for every object and array of every body.
func cachedTarget(t reflect.Type) (reflect.Type, keyShape) {
	if t == nil {
		return nil, shapeAny
	}
	if r, ok := targetCache.Load(t); ok {
		return r.(resolved).t, r.(resolved).shape
	}
	rt, shape := target(t)
	targetCache.Store(t, resolved{rt, shape})
	return rt, shape
}

// target resolves t to the type whose shape governs a value: through pointers, and through
// the optional-field wrappers of PATCH bodies to the value they hold. A type that implements
// json.Unmarshaler (or encoding.TextUnmarshaler, which takes only strings) decodes by its own
// rules, so it is opaque.
func target(t reflect.Type) (reflect.Type, keyShape) {
	for {
		if t == nil {
			return nil, shapeAny
		}
		if t.Kind() != reflect.Interface {
			// An optional field of a PATCH body holds null or a value of its valueType, which
			// its UnmarshalJSON decodes as encoding/json would: its keys are that type's.
			if t.Implements(optionalFieldType) {
				t = reflect.Zero(t).Interface().(optionalField).valueType()
				continue
			}
			if reflect.PointerTo(t).Implements(optionalFieldType) {
				t = reflect.New(t).Interface().(optionalField).valueType()
				continue
			}
			if t.Implements(jsonUnmarshalerType) || reflect.PointerTo(t).Implements(jsonUnmarshalerType) ||
				t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
				return t, shapeOpaque
			}
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
			continue
		case reflect.Interface:
			if t.NumMethod() == 0 {
				return nil, shapeAny
			}
			return t, shapeOpaque
		case reflect.Struct:
			return t, shapeStruct
		case reflect.Map:
			return t, shapeMap
		case reflect.Slice, reflect.Array:
			return t, shapeList
		}
		return t, shapeOpaque
	}
}

func (ks *keyScanner) space() {
	for ks.i < len(ks.b) {
		switch ks.b[ks.i] {
		case ' ', '\t', '\n', '\r':
			ks.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte (0 at the end).
func (ks *keyScanner) next() byte {
	ks.space()
	if ks.i >= len(ks.b) {
		return 0
	}
	return ks.b[ks.i]
}

// str reads a string at ks.i and returns its bytes as written, quotes included.
func (ks *keyScanner) str() []byte {
	start := ks.i
	ks.i++ // "
	for ks.i < len(ks.b) {
		switch ks.b[ks.i] {
		case '\\':
			ks.i += 2
		case '"':
			ks.i++
			return ks.b[start:ks.i]
		default:
			ks.i++
		}
	}
	return ks.b[start:]
}

// key returns the text of a quoted key as encoding/json reads it: unescaped, invalid UTF-8
// replaced. Most keys are plain and need neither.
func key(quoted []byte) string {
	if raw := quoted[1 : len(quoted)-1]; plainKey(raw) {
		return string(raw)
	}
	var s string
	_ = json.Unmarshal(quoted, &s)
	return s
}

// plainKey reports whether a key's bytes, as written, are its text: no escapes, valid UTF-8.
func plainKey(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			return bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)
		}
	}
	return true
}

// skip reads one value whatever it holds.
func (ks *keyScanner) skip() {
	switch ks.next() {
	case '"':
		ks.str()
	case '{', '[':
		open := 0
		for ks.i < len(ks.b) {
			switch ks.b[ks.i] {
			case '"':
				ks.str()
				continue
			case '{', '[':
				open++
			case '}', ']':
				open--
			}
			ks.i++
			if open == 0 {
				return
			}
		}
	default: // a number, true, false or null
		for ks.i < len(ks.b) && !strings.ContainsRune(",]} \t\n\r", rune(ks.b[ks.i])) {
			ks.i++
		}
	}
}

// value reads one JSON value that is decoded into t (nil: into an interface) at path, and
// returns the first refused key in it.
func (ks *keyScanner) value(t reflect.Type, path string, depth int) (string, string) {
	c := ks.next()
	if c != '{' && c != '[' {
		ks.skip()
		return "", ""
	}
	t, shape := cachedTarget(t)
	if depth >= maxKeyDepth {
		ks.skip()
		return "", ""
	}
	switch {
	case c == '[' && (shape == shapeList || shape == shapeAny):
		var elem reflect.Type
		if shape == shapeList {
			elem = t.Elem()
		}
		ks.i++ // [
		if ks.next() == ']' {
			ks.i++
			return "", ""
		}
		for {
			if f, m := ks.value(elem, path, depth+1); f != "" {
				return f, m
			}
			if ks.next() != ',' {
				ks.i++ // ]
				return "", ""
			}
			ks.i++
		}
	case c == '{' && (shape == shapeStruct || shape == shapeMap || shape == shapeAny):
		var fields map[string]jsonField
		var elem reflect.Type
		switch shape {
		case shapeStruct:
			fields = jsonFields(t)
		case shapeMap:
			elem = t.Elem()
		}
		var seenMask uint64          // a struct's fields seen, when it has at most 64
		var seenFields []bool        // … else
		var seenKeys map[string]bool // a map's or an interface's keys seen
		ks.i++                       // {
		if ks.next() == '}' {
			ks.i++
			return "", ""
		}
		for {
			ks.next()
			quoted := ks.str()
			ks.next()
			ks.i++ // :
			vt := elem
			if shape == shapeStruct {
				var fi jsonField
				var known bool
				if raw := quoted[1 : len(quoted)-1]; plainKey(raw) {
					fi, known = fields[string(raw)] // (a lookup that does not copy the key)
				} else {
					fi, known = fields[key(quoted)]
				}
				if !known {
					return joinPath(path, key(quoted)), unknownKeyMsg
				}
				dup := false
				if len(fields) <= 64 {
					dup = seenMask&(1<<fi.n) != 0
					seenMask |= 1 << fi.n
				} else {
					if seenFields == nil {
						seenFields = make([]bool, len(fields))
					}
					dup, seenFields[fi.n] = seenFields[fi.n], true
				}
				if dup {
					return joinPath(path, key(quoted)), duplicateKeyMsg
				}
				vt = fi.typ
			} else {
				k := key(quoted)
				if seenKeys == nil {
					seenKeys = map[string]bool{}
				}
				if seenKeys[k] {
					return joinPath(path, k), duplicateKeyMsg
				}
				seenKeys[k] = true
			}
			if c := ks.next(); c == '{' || c == '[' {
				if f, m := ks.value(vt, joinPath(path, key(quoted)), depth+1); f != "" {
					return f, m
				}
			} else {
				ks.skip() // a scalar holds no keys
			}
			if ks.next() != ',' {
				ks.i++ // }
				return "", ""
			}
			ks.i++
		}
	}
	// A type that decodes itself, or one this value does not fit (the decoder will say so):
	// skip the value whole.
	ks.skip()
	return "", ""
}

// jsonField is a JSON name's field: its type, and n, its position among the struct's JSON
// names (to mark it seen).
type jsonField struct {
	typ reflect.Type
	n   int
}

// fieldCache holds jsonFields' answer per struct type.
var fieldCache sync.Map // reflect.Type → map[string]jsonField

// jsonFields returns the JSON names encoding/json decodes into a field of the struct type t,
// with each field's type. It follows encoding/json's rules: a "-" tag hides a field, a tag's
// name (when valid) replaces the Go name, the fields of embedded structs without a tag are
// promoted, and of two fields with one name the shallower wins, then the tagged one; two that
// still tie hide each other (encoding/json ignores both, so the key is unknown).
func jsonFields(t reflect.Type) map[string]jsonField {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]jsonField)
	}
	type candidate struct {
		typ    reflect.Type
		depth  int
		tagged bool
	}
	byName := map[string][]candidate{}
	visited := map[reflect.Type]bool{}
	level := []reflect.Type{t}
	for depth := 0; len(level) > 0; depth++ {
		var next []reflect.Type
		seenHere := map[reflect.Type]bool{}
		for _, st := range level {
			if visited[st] {
				continue
			}
			seenHere[st] = true
			for i := range st.NumField() {
				sf := st.Field(i)
				if sf.Anonymous {
					et := sf.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if !sf.IsExported() && et.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				if !validJSONTag(name) {
					name = ""
				}
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, ft) // promoted: its fields count one level down
					continue
				}
				tagged := name != ""
				if !tagged {
					name = sf.Name
				}
				byName[name] = append(byName[name], candidate{typ: sf.Type, depth: depth, tagged: tagged})
			}
		}
		for st := range seenHere {
			visited[st] = true
		}
		level = next
	}
	out := make(map[string]jsonField, len(byName))
	for name, cs := range byName {
		best := cs[0].depth
		for _, c := range cs {
			best = min(best, c.depth)
		}
		var top []candidate
		for _, c := range cs {
			if c.depth == best {
				top = append(top, c)
			}
		}
		if len(top) > 1 {
			var tagged []candidate
			for _, c := range top {
				if c.tagged {
					tagged = append(tagged, c)
				}
			}
			top = tagged
		}
		if len(top) == 1 {
			out[name] = jsonField{typ: top[0].typ, n: len(out)}
		}
	}
	fieldCache.Store(t, out)
	return out
}

// validJSONTag mirrors encoding/json's test of a tag name: a name it rejects falls back to
// the Go field name.
func validJSONTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
