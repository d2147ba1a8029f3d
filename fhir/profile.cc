#include "fhir/profile.h"

#include <charconv>

#include <algorithm>

namespace hoa::fhir::profile {
namespace {

uint32_t parseMax(std::string_view m) {
  if (m == "*" || m.empty()) return kUnbounded;
  return static_cast<uint32_t>(std::strtoul(std::string(m).c_str(), nullptr, 10));
}

// The last dotted segment of an element id, without its slice name.
void splitLast(const std::string& id, std::string& parent, std::string& name, std::string& slice) {
  size_t dot = id.rfind('.');
  // A slice name may contain dots only in re-slices, which this does not handle.
  parent = dot == std::string::npos ? std::string() : id.substr(0, dot);
  std::string last = dot == std::string::npos ? id : id.substr(dot + 1);
  size_t colon = last.find(':');
  name = colon == std::string::npos ? last : last.substr(0, colon);
  slice = colon == std::string::npos ? std::string() : last.substr(colon + 1);
}

}  // namespace

std::shared_ptr<const Profile> build(const json::Value& sd, std::string& error) {
  const json::Value* snap = sd.find("snapshot");
  const json::Value* elems = snap ? snap->find("element") : nullptr;
  if (!elems || !elems->isArray() || elems->size == 0) {
    error = "profile " + std::string(sd.getString("url")) + " has no snapshot";
    return nullptr;
  }
  auto p = std::make_shared<Profile>();
  p->url = std::string(sd.getString("url"));
  p->type = std::string(sd.getString("type"));
  for (const json::Value* ed : *elems) {
    Element e;
    e.ed = ed;
    e.id = std::string(ed->getString("id"));
    if (e.id.empty()) e.id = std::string(ed->getString("path"));
    std::string parent, name, slice;
    splitLast(e.id, parent, name, slice);
    e.choice = name.ends_with("[x]");
    e.name = e.choice ? name.substr(0, name.size() - 3) : name;
    e.sliceName = slice;
    if (const json::Value* m = ed->find("min")) e.min = static_cast<uint32_t>(std::strtoul(std::string(m->text).c_str(), nullptr, 10));
    e.max = parseMax(ed->getString("max", "*"));
    for (size_t i = 0; i < ed->size; ++i) {
      std::string_view k = ed->members[i].key;
      if (k.starts_with("fixed") || k.starts_with("pattern")) {
        e.fixedOrPattern = ed->members[i].value;
        e.isFixed = k.starts_with("fixed");
      }
    }
    if (const json::Value* types = ed->find("type"); types && types->isArray()) {
      for (const json::Value* t : *types) {
        e.typeCodes.emplace_back(t->getString("code"));
        if (const json::Value* profs = t->find("profile"); profs && profs->isArray())
          for (const json::Value* pr : *profs) e.typeProfiles.emplace_back(pr->text);
        if (const json::Value* tps = t->find("targetProfile"); tps && tps->isArray())
          for (const json::Value* tp : *tps) e.targetProfiles.emplace_back(tp->text);
      }
    }
    if (const json::Value* slicing = ed->find("slicing")) {
      if (const json::Value* ds = slicing->find("discriminator"); ds && ds->isArray())
        for (const json::Value* d : *ds)
          e.discriminators.push_back({std::string(d->getString("type")), std::string(d->getString("path"))});
      e.rules = std::string(slicing->getString("rules", "open"));
      if (const json::Value* o = slicing->find("ordered")) e.ordered = o->boolean;
    }
    size_t index = p->elements.size();
    p->byId.emplace(e.id, index);
    p->elements.push_back(std::move(e));
    Element& added = p->elements.back();
    if (!added.sliceName.empty()) {
      // A slice of the element with the same id without ":slice".
      std::string baseId = parent.empty() ? added.name : parent + "." + name.substr(0, name.find(':'));
      if (added.choice) baseId = parent + "." + added.name + "[x]";
      auto it = p->byId.find(baseId);
      if (it != p->byId.end()) p->elements[it->second].slices.push_back(index);
    } else if (!parent.empty()) {
      auto it = p->byId.find(parent);
      if (it != p->byId.end()) p->elements[it->second].children.push_back(index);
    }
  }
  return p;
}

namespace {

// Whether an instance node holds the JSON value `v`: primitives by their text; objects as
// patterns (every member present and matching, arrays item by item).
bool matchesJson(const Node* n, const json::Value& v) {
  switch (v.type) {
    case json::Type::Object:
      for (size_t i = 0; i < v.size; ++i) {
        std::string_view key = v.members[i].key;
        const json::Value& mv = *v.members[i].value;
        if (key == "resourceType") continue;
        auto matchOne = [&](const json::Value& want) {
          for (const Node* c : n->children)
            if (c->def->name == key && matchesJson(c, want)) return true;
          // A choice element's JSON name (valueCode) against the element name (value).
          for (const Node* c : n->children)
            if (c->def->isChoice && key.starts_with(c->def->name) && matchesJson(c, want)) return true;
          return false;
        };
        if (mv.isArray()) {
          for (const json::Value* item : mv)
            if (!matchOne(*item)) return false;
        } else if (!matchOne(mv)) {
          return false;
        }
      }
      return true;
    case json::Type::Array:
      return false;
    case json::Type::Bool:
      return n->isPrimitive() && n->hasValue && n->value == (v.boolean ? "true" : "false");
    default:
      return n->isPrimitive() && n->hasValue && n->value == v.text;
  }
}

struct Checker {
  const Registry& reg;
  const Profile& prof;
  Issues& out;
  std::vector<Deferred>* deferred;
  const Resolver* resolver;
  // Profiles named by targetProfile, built once per check (resolve() discriminators).
  std::unordered_map<std::string, std::shared_ptr<const Profile>> targets;
  unsigned depth_ = 0;

  const Profile* targetProfile(const std::string& url) {
    auto it = targets.find(url);
    if (it != targets.end()) return it->second.get();
    std::shared_ptr<const Profile> p;
    if (const json::Value* sd = reg.resource(url); sd && sd->getString("derivation") == "constraint") {
      std::string error;
      p = build(*sd, error);
    }
    return targets.emplace(url, std::move(p)).first->second.get();
  }

  // The profile elements a discriminator path reaches from `from`, going into slices on
  // the way: bp's component:SystolicBP fixes code.coding.code under the slice
  // code.coding:SBPCode, which the plain path does not name.
  std::vector<const Element*> reach(const Profile& p, const Element& from, const std::string& path) {
    std::vector<const Element*> cur{&from};
    if (path == "$this") return cur;
    size_t start = 0;
    while (start <= path.size() && !cur.empty()) {
      size_t dot = path.find('.', start);
      std::string seg = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      std::vector<const Element*> next;
      for (const Element* e : cur) {
        for (size_t ci : e->children) {
          const Element& c = p.elements[ci];
          if (c.name != seg) continue;
          next.push_back(&c);
          for (size_t si : c.slices) next.push_back(&p.elements[si]);
        }
      }
      cur.swap(next);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return cur;
  }

  void add(Severity s, const char* code, std::string msg, const std::string& path, const Node* at) {
    out.add(Issue{s, code, std::move(msg), path, at ? at->line : 0, at ? at->column : 0});
  }

  // The nodes a discriminator path reaches from `n`.
  std::vector<const Node*> follow(const Node* n, const std::string& path) {
    std::vector<const Node*> cur{n};
    if (path == "$this") return cur;
    size_t start = 0;
    while (start <= path.size()) {
      size_t dot = path.find('.', start);
      std::string seg = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      std::vector<const Node*> next;
      if (seg == "resolve()") {
        for (const Node* x : cur)
          if (const Node* r = resolver && *resolver ? (*resolver)(x) : nullptr) next.push_back(r);
      } else {
        for (const Node* x : cur)
          for (const Node* c : x->children)
            if (c->def->name == seg) next.push_back(c);
      }
      cur.swap(next);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return cur;
  }

  // Whether `n` conforms to the StructureDefinition `url`: a core type by its type, a
  // profile by a nested structural check (no FHIRPath constraints).
  bool conforms(const Node* n, const std::string& url) {
    const json::Value* sd = reg.resource(url);
    if (!sd) return true;  // unknown: not decided here
    std::string_view type = sd->getString("type");
    if (n->type->name != type && !n->type->isA(type)) return false;
    if (sd->getString("derivation") != "constraint") return true;
    const Profile* p = targetProfile(url);
    if (!p || p->elements.empty()) return true;
    if (++depth_ > 8) return true;  // profiles slicing by profiles: bounded
    Issues scratch;
    Checker nested{reg, *p, scratch, nullptr, resolver, {}, 0};
    nested.depth_ = depth_;
    nested.element(n, p->elements[0], std::string(n->type->name));
    --depth_;
    return !scratch.hasErrors();
  }

  // Whether an instance element belongs to a slice; unknown discriminator forms match.
  // `undecided` is set when a resolve() discriminator meets a reference that does not
  // resolve within the instance: membership cannot be told then.
  bool inSlice(const Node* n, const Element& base, const Element& slice, bool& undecided) {
    for (const Discriminator& d : base.discriminators) {
      if (d.type == "type") {
        // The types the slice allows at the discriminator path, against the instance's.
        std::vector<std::string> allowed;
        for (const Element* e : reach(prof, slice, d.path))
          if (!e->sliceName.empty() || e == &slice || d.path != "$this")
            allowed.insert(allowed.end(), e->typeCodes.begin(), e->typeCodes.end());
        if (allowed.empty()) continue;
        std::vector<const Node*> got = follow(n, d.path);
        if (got.empty()) return false;
        for (const Node* g : got)
          if (std::find(allowed.begin(), allowed.end(), g->type->name) == allowed.end()) return false;
        continue;
      }
      if (d.type == "profile") {
        // The instance element at the path must conform to the profile(s) the slice names
        // for it (Bundle.entry sliced by resource profile): checked structurally, by the
        // same profile checker, without the profile's FHIRPath constraints.
        std::vector<std::string> urls;
        for (const Element* e : reach(prof, slice, d.path))
          urls.insert(urls.end(), e->typeProfiles.begin(), e->typeProfiles.end());
        if (urls.empty()) continue;
        std::vector<const Node*> got = follow(n, d.path);
        if (got.empty()) return false;
        for (const Node* g : got) {
          bool any = false;
          for (const std::string& url : urls) any = any || conforms(g, url);
          if (!any) return false;
        }
        continue;
      }
      if (d.type == "exists") {
        bool present = !follow(n, d.path).empty();
        const Element* e = d.path == "$this" ? &slice : prof.find(slice.id + "." + d.path);
        if (e && e->min > 0 && !present) return false;
        if (e && e->max == 0 && present) return false;
        continue;
      }
      if (d.type != "value" && d.type != "pattern") continue;  // profile: not decided here
      if (d.path.starts_with("resolve().")) {
        // The value sits in the profile the slice's reference targets (lipidprofile:
        // result:Cholesterol → Reference(cholesterol), discriminated by resolve().code).
        std::string rest = d.path.substr(10);
        std::vector<const Node*> got = follow(n, "resolve()");
        if (slice.targetProfiles.empty()) continue;
        if (got.empty()) {
          undecided = true;
          return false;
        }
        std::vector<const json::Value*> wants;
        for (const std::string& url : slice.targetProfiles) {
          const Profile* tp = targetProfile(url);
          if (!tp || tp->elements.empty()) continue;
          for (const Element* e : reach(*tp, tp->elements[0], rest))
            if (e->fixedOrPattern) wants.push_back(e->fixedOrPattern);
        }
        if (wants.empty()) continue;
        bool ok = false;
        for (const Node* g : got)
          for (const Node* v : follow(g, rest))
            for (const json::Value* w : wants) ok = ok || matchesJson(v, *w);
        if (!ok) return false;
        continue;
      }
      if (d.path.find('(') != std::string::npos) continue;  // extension(), ofType(): not here
      std::vector<const json::Value*> wants;
      for (const Element* e : reach(prof, slice, d.path))
        if (e->fixedOrPattern) wants.push_back(e->fixedOrPattern);
      std::vector<const Node*> got = follow(n, d.path);
      if (wants.empty()) {
        // Extension slices by url often name the URL only as the type's profile.
        if (d.path == "url" && !slice.typeProfiles.empty()) {
          bool ok = false;
          for (const Node* g : got) ok = ok || (g->hasValue && g->value == slice.typeProfiles[0]);
          if (!ok) return false;
        }
        continue;
      }
      bool ok = false;
      for (const Node* g : got)
        for (const json::Value* w : wants) ok = ok || matchesJson(g, *w);
      if (!ok) return false;
    }
    return true;
  }

  void element(const Node* n, const Element& e, const std::string& path) {
    if (deferred && (e.ed->find("constraint") || e.ed->find("binding") || !e.targetProfiles.empty()))
      deferred->push_back({n, path, e.ed, prof.url});
    if (e.fixedOrPattern && !matchesJson(n, *e.fixedOrPattern)) {
      std::string want = e.fixedOrPattern->isObject() || e.fixedOrPattern->isArray()
                             ? std::string("the ") + (e.isFixed ? "fixed" : "pattern") + " value of the profile"
                         : e.fixedOrPattern->type == json::Type::Bool
                             ? std::string(e.fixedOrPattern->boolean ? "'true'" : "'false'")
                             : "'" + std::string(e.fixedOrPattern->text) + "'";
      add(Severity::Error, "value",
          std::string("Value does not match ") + want + " (profile " + prof.url + ", element " + e.id + ")", path, n);
    }
    if (!e.typeCodes.empty() && !n->isResource()) {
      bool ok = false;
      for (const std::string& t : e.typeCodes) {
        ok = ok || n->type->name == t || n->type->isA(t);
        // System.String etc. (ids, urls, primitive values) and backbone elements.
        ok = ok || t.starts_with("http://hl7.org/fhirpath/System.");
        ok = ok || (n->type->kind == TypeKind::Backbone && (t == "BackboneElement" || t == "Element"));
      }
      if (!ok && e.typeCodes.size() > 0 && !(e.typeCodes.size() == 1 && e.typeCodes[0].empty()))
        add(Severity::Error, "structure",
            "Type " + n->type->name + " is not allowed here by profile " + prof.url + " (element " + e.id + ")", path, n);
    }
    if (e.children.empty()) return;  // the profile says nothing below this element
    for (size_t ci : e.children) {
      const Element& c = prof.elements[ci];
      // The instance children of this element, with their index among repeats.
      std::vector<std::pair<const Node*, size_t>> kids;
      size_t idx = 0;
      for (const Node* k : n->children)
        if (k->def->name == c.name) kids.emplace_back(k, idx++);
      const ElementDef* core = n->type->element(c.name);
      uint32_t coreMin = core ? core->min : 0, coreMax = core ? core->max : kUnbounded;
      if (kids.size() < c.min && kids.size() >= coreMin)
        add(Severity::Error, "required",
            path + "." + c.name + ": minimum required = " + std::to_string(c.min) + ", but only found " +
                std::to_string(kids.size()) + " (profile " + prof.url + ")",
            path, n);
      if (c.max != kUnbounded && kids.size() > c.max && kids.size() <= coreMax)
        add(Severity::Error, "structure",
            path + "." + c.name + ": maximum allowed = " + std::to_string(c.max) + ", but found " +
                std::to_string(kids.size()) + " (profile " + prof.url + ")",
            path, n);
      if (c.slices.empty()) {
        for (const auto& [k, i] : kids) element(k, c, childPath(path, k, i));
        continue;
      }
      std::vector<size_t> counts(c.slices.size(), 0);
      size_t undecidedCount = 0;
      for (const auto& [k, i] : kids) {
        std::string kp = childPath(path, k, i);
        size_t hit = c.slices.size();
        bool undecided = false;
        for (size_t s = 0; s < c.slices.size() && hit == c.slices.size(); ++s)
          if (inSlice(k, c, prof.elements[c.slices[s]], undecided)) hit = s;
        if (hit == c.slices.size() && undecided) {
          ++undecidedCount;
          add(Severity::Information, "informational",
              "Cannot tell which slice of " + c.id + " this element belongs to: its reference does not resolve "
              "within the resource or Bundle (profile " + prof.url + ")",
              kp, k);
          element(k, c, kp);
          continue;
        }
        if (hit == c.slices.size()) {
          if (c.rules == "closed")
            add(Severity::Error, "structure",
                "This element does not match any slice of " + c.id + ", and the slicing is closed (profile " +
                    prof.url + ")",
                kp, k);
          element(k, c, kp);
          continue;
        }
        ++counts[hit];
        element(k, prof.elements[c.slices[hit]], kp);
      }
      for (size_t s = 0; s < c.slices.size() && undecidedCount == 0; ++s) {
        const Element& sl = prof.elements[c.slices[s]];
        if (counts[s] < sl.min)
          add(Severity::Error, "required",
              "Slice '" + sl.sliceName + "' of " + path + "." + c.name + ": minimum required = " +
                  std::to_string(sl.min) + ", but only found " + std::to_string(counts[s]) + " (profile " +
                  prof.url + ")",
              path, n);
        if (sl.max != kUnbounded && counts[s] > sl.max)
          add(Severity::Error, "structure",
              "Slice '" + sl.sliceName + "' of " + path + "." + c.name + ": maximum allowed = " +
                  std::to_string(sl.max) + ", but found " + std::to_string(counts[s]) + " (profile " + prof.url +
                  ")",
              path, n);
      }
    }
  }
};

}  // namespace

std::string childPath(const std::string& parent, const Node* c, size_t index) {
  std::string p = parent;
  appendChildPath(p, c, index);
  return p;
}

void appendChildPath(std::string& p, const Node* c, size_t index) {
  p += '.';
  p += c->def->name;
  if (c->def->isChoice) {
    p += ".ofType(";
    p += c->type->name;
    p += ')';
  }
  if (c->def->repeats()) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, index);
    p += '[';
    p.append(digits, end);
    p += ']';
  }
}

void check(const Registry& reg, const Profile& p, const Node& resource, const std::string& path, Issues& out,
           std::vector<Deferred>* deferred, const Resolver* resolver) {
  if (p.elements.empty()) return;
  if (resource.type->name != p.type && !resource.type->isA(p.type)) {
    out.add(Issue{Severity::Error, "structure",
                  "The profile " + p.url + " is for " + p.type + ", not " + resource.type->name, path,
                  resource.line, resource.column});
    return;
  }
  Checker c{reg, p, out, deferred, resolver, {}, 0};
  c.element(&resource, p.elements[0], path);
}

}  // namespace hoa::fhir::profile
