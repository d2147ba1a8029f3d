// FHIR JSON: the generic JSON document (fhir/json.h) is typed into the element model
// by walking it against the definitions; the writer emits the FHIR JSON rules.
#include <algorithm>
#include <memory>

#include "fhir/format.h"
#include "fhir/format_common.h"

namespace hoa::fhir {
namespace {

using detail::PathTracker;

std::string_view jsonTypeName(json::Type t) {
  switch (t) {
    case json::Type::Null: return "null";
    case json::Type::Bool: return "a boolean";
    case json::Type::Number: return "a number";
    case json::Type::String: return "a string";
    case json::Type::Array: return "an array";
    case json::Type::Object: return "an object";
  }
  return "a value";
}

class JsonBuilder {
 public:
  JsonBuilder(const Registry& reg, Document& doc, Issues& issues, const ParseOptions& opt)
      : reg_(reg), doc_(doc), issues_(issues), opt_(opt) {}

  Node* buildRoot(const json::Value& v) {
    if (!v.isObject()) {
      report(v, "structure", "a FHIR resource must be a JSON object, not " +
                                 std::string(jsonTypeName(v.type)));
      return nullptr;
    }
    return buildResource(v, nullptr, true);
  }

 private:
  void report(const json::Value& at, std::string code, std::string message,
              Severity sev = Severity::Error) {
    if (capped_) return;
    Issue i;
    i.severity = sev;
    i.code = std::move(code);
    i.message = std::move(message);
    i.expression = path_.str();
    i.line = at.line;
    i.column = at.column;
    if (issues_.size() >= opt_.maxIssues) {
      // One fatal issue, where the first issue past the limit was, ends reporting.
      i.severity = Severity::Fatal;
      i.code = "too-costly";
      i.message = "too many issues: reporting stopped after " + std::to_string(opt_.maxIssues);
      capped_ = true;
    }
    issues_.add(std::move(i));
  }

 public:
  bool capped() const { return capped_; }

 private:

  Node* newNode(const ElementDef* def, const TypeInfo* type, const json::Value& at) {
    Node* n = doc_.newNode(def, type);
    n->line = at.line;
    n->column = at.column;
    return n;
  }

  Node* buildResource(const json::Value& v, const ElementDef* def, bool isRoot) {
    const json::Value* rt = v.find("resourceType");
    if (!rt || !rt->isString()) {
      report(v, "structure", rt ? "resourceType must be a string"
                                : "the resource has no resourceType property");
      return nullptr;
    }
    const TypeInfo* type = reg_.resourceType(rt->text);
    if (!type) {
      report(*rt, "structure", "unknown resource type '" + std::string(rt->text) + "'");
      return nullptr;
    }
    if (isRoot) path_.push(type->name);
    Node* n = newNode(def, type, v);
    fillObject(v, n, type, true);
    if (isRoot) path_.pop();
    return n;
  }

  // Fills `n` from the members of `obj` according to `type`.
  void fillObject(const json::Value& obj, Node* n, const TypeInfo* type, bool isResource) {
    if (obj.size == 0 && !isResource) {
      report(obj, "structure", "empty object: an element must have a value or children");
      return;
    }
    // Pass 1: the elements themselves.
    for (uint32_t k = 0; k < obj.size; ++k) {
      const json::Member& m = obj.members[k];
      if (m.key.starts_with('_')) continue;
      if (isResource && m.key == "resourceType") continue;
      const TypeInfo::Property* prop = type->property(m.key);
      if (!prop) {
        path_.push(m.key);
        report(*m.value, "structure", "unknown element '" + std::string(m.key) + "'");
        path_.pop();
        continue;
      }
      if (!claim(n, prop->element, *m.value, m.key)) continue;
      path_.push(m.key);
      addValues(*m.value, n, prop);
      path_.pop();
    }
    // Pass 2: ids and extensions of primitives ("_given").
    for (uint32_t k = 0; k < obj.size; ++k) {
      const json::Member& m = obj.members[k];
      if (!m.key.starts_with('_')) continue;
      std::string_view base = m.key.substr(1);
      const TypeInfo::Property* prop = type->property(base);
      path_.push(base);
      if (!prop || prop->type->kind != TypeKind::Primitive ||
          prop->type->jsonKind == JsonKind::Xhtml) {
        report(*m.value, "structure", "unknown element '" + std::string(m.key) + "'");
      } else {
        addPrimitiveExtras(*m.value, n, prop, m.key);
      }
      path_.pop();
    }
    // Nodes left with neither value nor children came from nulls without a partner.
    for (size_t k = 0, pos = 0; k < n->children.size(); ++k) {
      const Node* c = n->children[k];
      pos = (k > 0 && n->children[k - 1]->def == c->def) ? pos + 1 : 0;
      if (c->isPrimitive() && !c->hasValue && c->children.empty()) {
        bool inArray = c->def->repeats();
        path_.push(c->def->name, inArray ? static_cast<int32_t>(pos) : -1);
        json::Value at;
        at.line = c->line;
        at.column = c->column;
        report(at, "structure",
               inArray ? "null in an array of '" + c->def->name +
                             "' without id or extension at the same position in '_" +
                             c->def->name + "'"
                       : "element '" + c->def->name + "' has no value and no id or extension");
        path_.pop();
      }
    }
    // Keep definition order; repeats of one element keep their order.
    std::stable_sort(n->children.begin(), n->children.end(),
                     [](const Node* a, const Node* b) { return a->def->index < b->def->index; });
  }

  // One element may appear under one property name only (value[x] once; not both
  // valueString and valueBoolean).
  bool claim(Node* n, const ElementDef* def, const json::Value& at, std::string_view key) {
    for (const Node* c : n->children) {
      if (c->def == def) {
        path_.push(key);
        report(at, "structure",
               "element '" + def->name + "' appears more than once (as '" + std::string(key) +
                   "' and another choice of type)");
        path_.pop();
        return false;
      }
    }
    return true;
  }

  void addValues(const json::Value& v, Node* parent, const TypeInfo::Property* prop) {
    const ElementDef* def = prop->element;
    if (def->repeats()) {
      if (!v.isArray()) {
        report(v, "structure", "element '" + def->name + "' repeats and must be a JSON array, not " +
                                   std::string(jsonTypeName(v.type)));
        return;
      }
      if (v.size == 0) {
        report(v, "structure", "empty array: leave the property out instead");
        return;
      }
      for (uint32_t i = 0; i < v.size; ++i) {
        path_.setIndex(static_cast<int32_t>(i));
        const json::Value& item = *v.items[i];
        if (item.isNull() && prop->type->kind == TypeKind::Primitive) {
          // A placeholder aligned with "_name"; checked after pass 2.
          Node* c = newNode(def, prop->type, item);
          parent->children.push_back(c);
          continue;
        }
        if (Node* c = buildValue(item, def, prop->type)) parent->children.push_back(c);
      }
      return;
    }
    if (v.isArray()) {
      report(v, "structure", "element '" + def->name + "' does not repeat: an array is not allowed");
      return;
    }
    if (Node* c = buildValue(v, def, prop->type)) parent->children.push_back(c);
  }

  Node* buildValue(const json::Value& v, const ElementDef* def, const TypeInfo* type) {
    if (def->isResource) {
      if (!v.isObject()) {
        report(v, "structure", "a resource must be a JSON object, not " +
                                   std::string(jsonTypeName(v.type)));
        return nullptr;
      }
      return buildResource(v, def, false);
    }
    if (type->kind == TypeKind::Primitive) return buildPrimitive(v, def, type);
    if (!v.isObject()) {
      report(v, "structure", "element '" + def->name + "' of type " + type->name +
                                 " must be a JSON object, not " + std::string(jsonTypeName(v.type)));
      return nullptr;
    }
    Node* n = newNode(def, type, v);
    fillObject(v, n, type, false);
    return n;
  }

  Node* buildPrimitive(const json::Value& v, const ElementDef* def, const TypeInfo* type) {
    json::Type want;
    switch (type->jsonKind) {
      case JsonKind::Boolean: want = json::Type::Bool; break;
      case JsonKind::Integer:
      case JsonKind::Decimal: want = json::Type::Number; break;
      default: want = json::Type::String;
    }
    if (v.type != want) {
      report(v, "structure", "element '" + def->name + "' of type " + type->name + " must be " +
                                 std::string(jsonTypeName(want)) + ", not " +
                                 std::string(jsonTypeName(v.type)));
      return nullptr;
    }
    std::string_view text = want == json::Type::Bool ? (v.boolean ? "true" : "false") : v.text;
    if (std::string problem = detail::checkPrimitiveText(*type, text); !problem.empty()) {
      report(v, "value", std::move(problem));
      return nullptr;
    }
    Node* n = newNode(def, type, v);
    n->value = text;
    n->hasValue = true;
    return n;
  }

  // "_name": the id and extensions of primitive values, aligned with "name".
  void addPrimitiveExtras(const json::Value& v, Node* parent, const TypeInfo::Property* prop,
                          std::string_view key) {
    const ElementDef* def = prop->element;
    std::vector<Node*> existing;
    for (Node* c : parent->children)
      if (c->def == def) existing.push_back(c);
    if (!existing.empty() && existing.front()->type != prop->type) {
      report(v, "structure", "'" + std::string(key) + "' does not match the type of '" +
                                 def->name + "'");
      return;
    }
    if (def->repeats()) {
      if (!v.isArray()) {
        report(v, "structure", "'" + std::string(key) + "' must be an array, as '" + def->name +
                                   "' repeats");
        return;
      }
      if (v.size == 0) {
        report(v, "structure", "empty array: leave the property out instead");
        return;
      }
      if (!existing.empty() && existing.size() != v.size) {
        report(v, "structure", "'" + std::string(key) + "' has " + std::to_string(v.size) +
                                   " entries but '" + def->name + "' has " +
                                   std::to_string(existing.size()));
        return;
      }
      for (uint32_t i = 0; i < v.size; ++i) {
        path_.setIndex(static_cast<int32_t>(i));
        const json::Value& item = *v.items[i];
        if (item.isNull()) continue;
        Node* target = existing.empty() ? nullptr : existing[i];
        if (!target) {
          target = newNode(def, prop->type, item);
          parent->children.push_back(target);
        }
        fillExtras(item, target, prop->type);
      }
      return;
    }
    if (!v.isObject()) {
      report(v, "structure", "'" + std::string(key) + "' must be an object, not " +
                                 std::string(jsonTypeName(v.type)));
      return;
    }
    Node* target = existing.empty() ? nullptr : existing.front();
    if (!target) {
      target = newNode(def, prop->type, v);
      parent->children.push_back(target);
    }
    fillExtras(v, target, prop->type);
  }

  void fillExtras(const json::Value& v, Node* target, const TypeInfo* type) {
    if (!v.isObject()) {
      report(v, "structure", "must be an object with id and/or extension, not " +
                                 std::string(jsonTypeName(v.type)));
      return;
    }
    target->line = target->line ? target->line : v.line;
    fillObject(v, target, type, false);
  }

  const Registry& reg_;
  Document& doc_;
  Issues& issues_;
  const ParseOptions& opt_;
  PathTracker path_;
  bool capped_ = false;
};

// --- writer -------------------------------------------------------------------------

class JsonWriter {
 public:
  explicit JsonWriter(const WriteOptions& opt) : pretty_(opt.pretty) {}

  void resource(const Node& n, int depth) {
    out_ += '{';
    bool first = true;
    key("resourceType", depth + 1, first);
    json::appendQuoted(out_, n.type->name);
    members(n, depth + 1, first);
    close('}', depth, first);
  }

  std::string take() { return std::move(out_); }

 private:
  void newline(int depth) {
    if (!pretty_) return;
    out_ += '\n';
    out_.append(static_cast<size_t>(depth) * 2, ' ');
  }
  void key(std::string_view k, int depth, bool& first) {
    if (!first) out_ += ',';
    first = false;
    newline(depth);
    out_ += '"';
    out_ += k;
    out_ += pretty_ ? "\": " : "\":";
  }
  void close(char c, int depth, bool empty) {
    if (!empty) newline(depth);
    out_ += c;
  }

  void primitiveValue(const Node& n) {
    if (!n.hasValue) {
      out_ += "null";
      return;
    }
    switch (n.type->jsonKind) {
      case JsonKind::Boolean:
      case JsonKind::Integer:
      case JsonKind::Decimal:
        out_ += n.value;
        break;
      default:
        json::appendQuoted(out_, n.value);
    }
  }

  void object(const Node& n, int depth) {
    out_ += '{';
    bool first = true;
    members(n, depth + 1, first);
    close('}', depth, first);
  }

  void value(const Node& n, int depth) {
    if (n.isResource())
      resource(n, depth);
    else
      object(n, depth);
  }

  void members(const Node& n, int depth, bool& first) {
    const auto& kids = n.children;
    for (size_t i = 0; i < kids.size();) {
      size_t j = i + 1;
      while (j < kids.size() && kids[j]->def == kids[i]->def) ++j;
      const Node& head = *kids[i];
      const ElementDef& def = *head.def;
      std::string name = propertyName(def, *head.type);
      if (head.isPrimitive() && !def.isResource) {
        bool anyValue = false, anyExtras = false;
        for (size_t k = i; k < j; ++k) {
          anyValue |= kids[k]->hasValue;
          anyExtras |= !kids[k]->children.empty();
        }
        if (def.repeats()) {
          if (anyValue) {
            key(name, depth, first);
            out_ += '[';
            for (size_t k = i; k < j; ++k) {
              if (k > i) out_ += ',';
              newline(depth + 1);
              primitiveValue(*kids[k]);
            }
            close(']', depth, false);
          }
          if (anyExtras) {
            key("_" + name, depth, first);
            out_ += '[';
            for (size_t k = i; k < j; ++k) {
              if (k > i) out_ += ',';
              newline(depth + 1);
              if (kids[k]->children.empty())
                out_ += "null";
              else
                object(*kids[k], depth + 1);
            }
            close(']', depth, false);
          }
        } else {
          if (head.hasValue) {
            key(name, depth, first);
            primitiveValue(head);
          }
          if (!head.children.empty()) {
            key("_" + name, depth, first);
            object(head, depth);
          }
        }
      } else if (def.repeats()) {
        key(name, depth, first);
        out_ += '[';
        for (size_t k = i; k < j; ++k) {
          if (k > i) out_ += ',';
          newline(depth + 1);
          value(*kids[k], depth + 1);
        }
        close(']', depth, false);
      } else {
        key(name, depth, first);
        value(head, depth);
      }
      i = j;
    }
  }

  bool pretty_;
  std::string out_;
};

}  // namespace

ParseResult parseJson(const Registry& registry, std::string source, const ParseOptions& options) {
  ParseResult result;
  json::Error err;
  auto jdoc = std::make_shared<json::Document>(
      json::Document::parse(std::move(source), err, options.limits));
  if (err) {
    Issue i;
    i.severity = Severity::Fatal;
    i.code = err.kind == json::Error::Kind::StringTooLong ? "too-long"
             : err.kind == json::Error::Kind::Limit        ? "too-costly"
                                                           : "structure";
    i.message = "invalid JSON: " + err.message;
    i.line = err.line;
    i.column = err.column;
    i.expression = err.rootResourceType.empty() ? err.path
                   : err.path.empty()             ? err.rootResourceType
                                                  : err.rootResourceType + "." + err.path;
    result.issues.add(std::move(i));
    return result;
  }
  JsonBuilder builder(registry, result.doc, result.issues, options);
  Node* root = builder.buildRoot(*jdoc->root());
  result.doc.setRoot(builder.capped() ? nullptr : root);  // a fatal issue leaves no tree
  // The tree's strings point into the JSON document's source and arena.
  result.doc.keepAlive(std::move(jdoc));
  return result;
}

std::string writeJson(const Node& resource, const WriteOptions& options) {
  JsonWriter w(options);
  w.resource(resource, 0);
  return w.take();
}

std::optional<Format> sniffFormat(std::string_view s) {
  if (s.starts_with("\xEF\xBB\xBF")) s.remove_prefix(3);
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '<') return Format::Xml;
    if (c == '{') return Format::Json;
    return std::nullopt;
  }
  return std::nullopt;
}

ParseResult parse(const Registry& registry, std::string source, const ParseOptions& options) {
  std::string_view body = source;
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
  if (sniffFormat(body) == Format::Xml) return parseXml(registry, source, options);
  return parseJson(registry, std::move(source), options);
}

}  // namespace hoa::fhir
