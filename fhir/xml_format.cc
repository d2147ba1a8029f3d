// FHIR XML with libxml2's SAX2 interface: no DTD (a DOCTYPE is an error), no entity
// expansion beyond the five predefined ones, no network, libxml2's own depth and text
// limits left on (never XML_PARSE_HUGE), plus this library's limits.
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <tuple>

#include "fhir/format.h"
#include "fhir/format_common.h"

namespace hoa::fhir {
namespace {

using detail::PathTracker;
using detail::XhtmlWriter;

std::string_view sv(const xmlChar* s) {
  return s ? std::string_view(reinterpret_cast<const char*>(s)) : std::string_view();
}

void initLibxml() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

constexpr int kParseOptions = XML_PARSE_NONET;

// Runs a SAX2 parse of `data` with `handler`'s callbacks; `user` is passed to each.
// Returns false when libxml2 could not even start.
template <class Handler>
bool runSax(std::string_view data, Handler& user, xmlSAXHandler& sax) {
  initLibxml();
  sax.initialized = XML_SAX2_MAGIC;
  // A memory parser context, not the push parser: libxml2 refuses to look more than
  // 10 MB ahead in pushed input without XML_PARSE_HUGE, which must stay off.
  xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(data.data(), static_cast<int>(data.size()));
  if (!ctxt) return false;
  xmlCtxtUseOptions(ctxt, kParseOptions);
  *ctxt->sax = sax;  // the context owns (and frees) its handler block
  ctxt->userData = &user;
  user.ctxt = ctxt;
  xmlParseDocument(ctxt);
  xmlFreeParserCtxt(ctxt);
  return true;
}

// SAX2 attribute array: 5 pointers per attribute (localname, prefix, URI, value, end).
struct SaxAttr {
  std::string_view localname, prefix, uri, value;
};
SaxAttr saxAttr(const xmlChar** attrs, int i) {
  const xmlChar** a = attrs + 5 * i;
  return {sv(a[0]), sv(a[1]), sv(a[2]),
          std::string_view(reinterpret_cast<const char*>(a[3]), static_cast<size_t>(a[4] - a[3]))};
}

std::vector<XhtmlWriter::NsDecl> nsDecls(int n, const xmlChar** ns) {
  std::vector<XhtmlWriter::NsDecl> out;
  for (int i = 0; i < n; ++i) out.push_back({sv(ns[2 * i]), sv(ns[2 * i + 1])});
  return out;
}


// Decodes the predefined entities and character references that libxml2 leaves in
// SAX2 attribute values when it did not need to copy them.
std::string_view attrValue(std::string_view raw, std::string& buf) {
  if (raw.find('&') == std::string_view::npos) return raw;
  buf.clear();
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '&') {
      buf += raw[i];
      continue;
    }
    size_t semi = raw.find(';', i);
    if (semi == std::string_view::npos) {
      buf += raw[i];
      continue;
    }
    std::string_view ent = raw.substr(i + 1, semi - i - 1);
    if (ent == "lt") buf += '<';
    else if (ent == "gt") buf += '>';
    else if (ent == "amp") buf += '&';
    else if (ent == "quot") buf += '"';
    else if (ent == "apos") buf += '\'';
    else if (!ent.empty() && ent[0] == '#') {
      unsigned long cp = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                             ? std::strtoul(std::string(ent.substr(2)).c_str(), nullptr, 16)
                             : std::strtoul(std::string(ent.substr(1)).c_str(), nullptr, 10);
      xmlChar tmp[8];
      int len = xmlCopyChar(0, tmp, static_cast<int>(cp));
      buf.append(reinterpret_cast<char*>(tmp), static_cast<size_t>(len));
    } else {
      buf.append(raw.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return buf;
}

std::vector<XhtmlWriter::Attr> xhtmlAttrs(int n, const xmlChar** attrs) {
  std::vector<XhtmlWriter::Attr> out;
  std::string buf;
  for (int i = 0; i < n; ++i) {
    SaxAttr a = saxAttr(attrs, i);
    out.push_back({a.prefix, a.localname, std::string(attrValue(a.value, buf))});
  }
  return out;
}

// --- FHIR XML → element model --------------------------------------------------------

class XmlBuilder {
 public:
  XmlBuilder(const Registry& reg, Document& doc, Issues& issues, const ParseOptions& opt)
      : reg_(reg), doc_(doc), issues_(issues), opt_(opt) {}

  xmlParserCtxtPtr ctxt = nullptr;

  void run(std::string_view data) {
    data_ = data;
    xmlSAXHandler sax;
    std::memset(&sax, 0, sizeof sax);
    sax.startElementNs = [](void* u, const xmlChar* l, const xmlChar* p, const xmlChar* uri,
                            int nns, const xmlChar** ns, int na, int, const xmlChar** a) {
      static_cast<XmlBuilder*>(u)->startElement(sv(l), sv(p), sv(uri), nns, ns, na, a);
    };
    sax.endElementNs = [](void* u, const xmlChar* l, const xmlChar* p, const xmlChar*) {
      static_cast<XmlBuilder*>(u)->endElement(sv(l), sv(p));
    };
    sax.characters = [](void* u, const xmlChar* ch, int len) {
      static_cast<XmlBuilder*>(u)->characters(
          std::string_view(reinterpret_cast<const char*>(ch), static_cast<size_t>(len)));
    };
    sax.cdataBlock = sax.characters;
    sax.internalSubset = [](void* u, const xmlChar*, const xmlChar*, const xmlChar*) {
      static_cast<XmlBuilder*>(u)->fatal("security",
                                         "a DOCTYPE is not allowed in FHIR XML (no DTDs, no "
                                         "entity declarations)");
    };
    sax.serror = [](void* u, xmlErrorPtr e) { static_cast<XmlBuilder*>(u)->libxmlError(e); };
    if (data.size() > opt_.limits.maxInputBytes) {
      fatal("too-costly", "the document is larger than the limit of " +
                              std::to_string(opt_.limits.maxInputBytes) + " bytes");
      return;
    }
    if (data.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      Issue i{Severity::Fatal, "structure", "the document is empty", "", 1, 1};
      issues_.add(std::move(i));
      stopped_ = true;
      return;
    }
    if (data.size() > INT32_MAX || !runSax(data, *this, sax)) {
      fatal("exception", "the XML parser could not be started");
      return;
    }
    if (!stopped_ && !root_) fatal("structure", "the document has no root element");
    if (stopped_) root_ = nullptr;
  }

  Node* root() const { return root_; }

 private:
  enum class Mode : uint8_t { Element, ResourceContainer };
  struct Frame {
    Node* node = nullptr;             // the element being filled (container: its parent)
    const TypeInfo* type = nullptr;   // the structure of its children
    const ElementDef* def = nullptr;  // container frames: the resource-holding element
    Mode mode = Mode::Element;
    const ElementDef* lastDef = nullptr;  // the furthest element in definition order so far
    const ElementDef* prevDef = nullptr;  // the element just before
    int32_t repeat = 0;
    bool valueRejected = false;
    bool hasResource = false;
  };

  // Line and column of `p` when it points into the document being parsed (libxml2
  // passes character data in place when it can); leaves them 0 otherwise.
  void locateInInput(const char* p, uint32_t& line, uint32_t& col) const {
    const char* b = data_.data();
    if (p < b || p >= b + data_.size()) return;
    line = 1;
    const char* lineStart = b;
    for (const char* q = b; q < p; ++q)
      if (*q == '\n') {
        ++line;
        lineStart = q + 1;
      }
    // Columns count characters, as libxml2's do.
    col = 1;
    for (const char* q = lineStart; q < p; ++q)
      if ((static_cast<unsigned char>(*q) & 0xC0) != 0x80) ++col;
  }

  void position(uint32_t& line, uint32_t& col) const {
    line = static_cast<uint32_t>(xmlSAX2GetLineNumber(ctxt));
    col = static_cast<uint32_t>(xmlSAX2GetColumnNumber(ctxt));
  }

  void report(std::string code, std::string message, Severity sev = Severity::Error) {
    if (issues_.size() >= opt_.maxIssues) {
      if (!stopped_) fatal("too-costly", "too many issues: reporting stopped");
      return;
    }
    Issue i;
    i.severity = sev;
    i.code = std::move(code);
    i.message = std::move(message);
    i.expression = path_.str();
    position(i.line, i.column);
    issues_.add(std::move(i));
  }

  void fatal(std::string code, std::string message) {
    if (stopped_) return;
    Issue i;
    i.severity = Severity::Fatal;
    i.code = std::move(code);
    i.message = std::move(message);
    i.expression = path_.str();
    if (ctxt) position(i.line, i.column);
    issues_.add(std::move(i));
    stopped_ = true;
    if (ctxt) xmlStopParser(ctxt);
  }

  void libxmlError(xmlErrorPtr e) {
    if (stopped_ || !e) return;
    if (e->level == XML_ERR_WARNING) return;
    std::string msg = e->message ? e->message : "XML error";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    Issue i;
    i.severity = Severity::Fatal;
    if (msg.find("too long") != std::string::npos)
      i.code = "too-long";
    else if (e->code == XML_ERR_ENTITY_LOOP || e->code == XML_ERR_INTERNAL_ERROR ||
             msg.find("Excessive depth") != std::string::npos)
      i.code = "too-costly";
    else
      i.code = "structure";
    i.message = "invalid XML: " + msg;
    i.expression = path_.str();
    i.line = static_cast<uint32_t>(e->line);
    i.column = static_cast<uint32_t>(e->int2);
    issues_.add(std::move(i));
    stopped_ = true;
    xmlStopParser(ctxt);
  }

  Node* newNode(const ElementDef* def, const TypeInfo* type) {
    if (++count_ > opt_.limits.maxValues) {
      fatal("too-costly", "the document has more than the limit of " +
                              std::to_string(opt_.limits.maxValues) + " elements");
      return nullptr;
    }
    Node* n = doc_.newNode(def, type);
    position(n->line, n->column);
    return n;
  }

  void startElement(std::string_view local, std::string_view prefix, std::string_view uri,
                    int nns, const xmlChar** ns, int na, const xmlChar** attrs) {
    if (stopped_) return;
    if (xhtmlDepth_ > 0) {
      ++xhtmlDepth_;
      if (xhtmlDepth_ > opt_.limits.maxDepth) {
        fatal("too-costly", "narrative nested deeper than the limit of " +
                                std::to_string(opt_.limits.maxDepth));
        return;
      }
      xhtml_.start(prefix, local, nsDecls(nns, ns), xhtmlAttrs(na, attrs));
      return;
    }
    if (skipDepth_ > 0) {
      ++skipDepth_;
      return;
    }
    if (stack_.size() >= opt_.limits.maxDepth) {
      fatal("too-costly",
            "elements nested deeper than the limit of " + std::to_string(opt_.limits.maxDepth));
      return;
    }
    if (stack_.empty()) {
      startResource(local, uri, na, attrs, nullptr, nullptr, true);
      return;
    }
    Frame& top = stack_.back();
    if (top.mode == Mode::ResourceContainer) {
      if (top.hasResource) {
        report("structure", "'" + top.def->name + "' holds one resource only");
        skipDepth_ = 1;
        return;
      }
      top.hasResource = true;
      startResource(local, uri, na, attrs, top.def, top.node, false);
      return;
    }
    if (uri != detail::kFhirNs &&
        !(uri == detail::kXhtmlNs && top.type->property(local) &&
          top.type->property(local)->type->jsonKind == JsonKind::Xhtml)) {
      path_.push(local);
      report("structure", "element '" + std::string(local) + "' is not in the FHIR namespace" +
                              (uri.empty() ? "" : " (it is in '" + std::string(uri) + "')"));
      path_.pop();
      skipDepth_ = 1;
      return;
    }
    const TypeInfo::Property* prop = top.type->property(local);
    if (!prop || prop->element->xmlAttr) {
      path_.push(local);
      report("structure", prop ? "'" + std::string(local) + "' must be an XML attribute"
                               : "unknown element '" + std::string(local) + "'");
      path_.pop();
      skipDepth_ = 1;
      return;
    }
    const ElementDef* def = prop->element;
    // Order: definition order; repeats of one element together.
    if (top.prevDef == def) {
      ++top.repeat;
    } else {
      top.repeat = 0;
      for (const Node* c : top.node->children) top.repeat += c->def == def;
    }
    top.prevDef = def;
    int32_t index = def->repeats() ? top.repeat : -1;
    path_.push(local, index);
    if (top.lastDef && def->index < top.lastDef->index) {
      report("structure", "element '" + std::string(local) + "' is out of order: it must come "
                              "before '" + top.lastDef->name + "'");
    } else if (top.lastDef == def && !def->repeats()) {
      report("structure", "element '" + def->name + "' appears more than once but does not "
                              "repeat");
    }
    if (!top.lastDef || def->index >= top.lastDef->index) top.lastDef = def;
    if (def->isResource) {
      checkNoAttributes(na, attrs);
      Frame f;
      f.node = top.node;
      f.def = def;
      f.mode = Mode::ResourceContainer;
      stack_.push_back(f);
      return;
    }
    const TypeInfo* type = prop->type;
    Node* n = newNode(def, type);
    if (!n) return;
    if (type->kind == TypeKind::Primitive && type->jsonKind == JsonKind::Xhtml) {
      startXhtml(n, local, prefix, uri, nns, ns, na, attrs);
      return;
    }
    bool valueOk = applyAttributes(n, type, na, attrs);
    top.node->children.push_back(n);
    Frame f;
    f.node = n;
    f.type = type;
    f.valueRejected = !valueOk;
    stack_.push_back(f);
  }

  void startResource(std::string_view local, std::string_view uri, int na, const xmlChar** attrs,
                     const ElementDef* def, Node* parent, bool isRoot) {
    if (uri != detail::kFhirNs) {
      fatal("structure", "the resource element '" + std::string(local) +
                             "' must be in the FHIR namespace http://hl7.org/fhir");
      return;
    }
    const TypeInfo* type = reg_.resourceType(local);
    if (!type) {
      if (isRoot) {
        fatal("structure", "unknown resource type '" + std::string(local) + "'");
      } else {
        report("structure", "unknown resource type '" + std::string(local) + "'");
        skipDepth_ = 1;
      }
      return;
    }
    Node* n = newNode(def, type);
    if (!n) return;
    if (isRoot) {
      path_.push(type->name);
      root_ = n;
    } else {
      parent->children.push_back(n);
    }
    checkNoAttributes(na, attrs);
    Frame f;
    f.node = n;
    f.type = type;
    stack_.push_back(f);
  }

  void checkNoAttributes(int na, const xmlChar** attrs) {
    for (int i = 0; i < na; ++i) {
      SaxAttr a = saxAttr(attrs, i);
      report("structure", "unexpected attribute '" + std::string(a.localname) + "'");
    }
  }

  // Returns false when the value attribute was present but rejected.
  bool applyAttributes(Node* n, const TypeInfo* type, int na, const xmlChar** attrs) {
    bool valueOk = true;
    for (int i = 0; i < na; ++i) {
      SaxAttr a = saxAttr(attrs, i);
      if (!a.uri.empty()) {
        report("structure", "unexpected attribute '" + std::string(a.prefix) + ":" +
                                std::string(a.localname) + "'");
        continue;
      }
      std::string_view value = attrValue(a.value, attrBuf_);
      if (value.size() > opt_.limits.maxStringBytes) {
        report("too-long", "value longer than the limit of " +
                               std::to_string(opt_.limits.maxStringBytes) + " bytes");
        valueOk = valueOk && a.localname != "value";
        continue;
      }
      if (a.localname == "value" && type->kind == TypeKind::Primitive) {
        if (std::string problem = detail::checkPrimitiveText(*type, value); !problem.empty()) {
          report("value", std::move(problem));
          valueOk = false;
          continue;
        }
        n->value = doc_.copy(value);
        n->hasValue = true;
        continue;
      }
      const TypeInfo::Property* prop = type->property(a.localname);
      if (!prop || !prop->element->xmlAttr || prop->type->kind != TypeKind::Primitive) {
        report("structure", "unexpected attribute '" + std::string(a.localname) + "'");
        continue;
      }
      if (std::string problem = detail::checkPrimitiveText(*prop->type, value); !problem.empty()) {
        report("value", std::move(problem));
        continue;
      }
      Node* c = newNode(prop->element, prop->type);
      if (!c) return valueOk;
      c->value = doc_.copy(value);
      c->hasValue = true;
      n->children.push_back(c);
    }
    return valueOk;
  }

  void startXhtml(Node* n, std::string_view local, std::string_view prefix, std::string_view uri,
                  int nns, const xmlChar** ns, int na, const xmlChar** attrs) {
    if (uri != detail::kXhtmlNs || local != "div") {
      report("structure", "the narrative must be an XHTML <div> in the namespace " +
                              std::string(detail::kXhtmlNs));
      path_.pop();
      skipDepth_ = 1;
      return;
    }
    xhtml_.clear();
    auto decls = nsDecls(nns, ns);
    if (decls.empty() || std::none_of(decls.begin(), decls.end(),
                                      [](const auto& d) { return d.prefix.empty(); }))
      decls.insert(decls.begin(), {std::string_view(), detail::kXhtmlNs});
    xhtml_.start(prefix, local, decls, xhtmlAttrs(na, attrs));
    xhtmlNode_ = n;
    xhtmlDepth_ = 1;
  }

  void endElement(std::string_view local, std::string_view prefix) {
    if (stopped_) return;
    if (xhtmlDepth_ > 0) {
      xhtml_.end(prefix, local);
      if (--xhtmlDepth_ == 0) {
        xhtmlNode_->value = doc_.copy(xhtml_.str());
        xhtmlNode_->hasValue = true;
        stack_.back().node->children.push_back(xhtmlNode_);
        xhtmlNode_ = nullptr;
        path_.pop();
      }
      return;
    }
    if (skipDepth_ > 0) {
      --skipDepth_;
      return;
    }
    if (stack_.empty()) return;
    Frame f = stack_.back();
    stack_.pop_back();
    if (f.mode == Mode::ResourceContainer) {
      if (!f.hasResource) report("structure", "'" + f.def->name + "' must hold a resource");
      path_.pop();
      return;
    }
    Node* n = f.node;
    if (n->isPrimitive()) {
      if (!n->hasValue && n->children.empty() && !f.valueRejected)
        report("structure", "element '" + std::string(local) +
                                "' has no value attribute and no extensions");
    } else if (!n->isResource() && n->children.empty()) {
      report("structure", "empty element '" + std::string(local) + "'");
    }
    // Attributes (ids, urls) were added first; put them into definition order.
    std::stable_sort(n->children.begin(), n->children.end(),
                     [](const Node* a, const Node* b) { return a->def->index < b->def->index; });
    if (n->def && n->def->isResource) return;  // the container frame pops the path
    path_.pop();
  }

  void characters(std::string_view text) {
    if (stopped_) return;
    if (xhtmlDepth_ > 0) {
      xhtml_.text(text);
      if (xhtml_.str().size() > opt_.limits.maxStringBytes)
        fatal("too-long", "narrative longer than the limit of " +
                              std::to_string(opt_.limits.maxStringBytes) + " bytes");
      return;
    }
    if (skipDepth_ > 0) return;
    size_t at = text.find_first_not_of(" \t\r\n");
    if (at == std::string_view::npos) return;
    uint32_t line = 0, col = 0;
    locateInInput(text.data() + at, line, col);
    if (!line) {
      // libxml2 copied the text: it stands just after it, so count back.
      std::string_view after = text.substr(at);
      uint32_t curLine, curCol;
      position(curLine, curCol);
      auto chars = [](std::string_view t) {
        uint32_t n = 0;
        for (char c : t) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        return n;
      };
      uint32_t newlines = static_cast<uint32_t>(std::count(after.begin(), after.end(), '\n'));
      if (newlines < curLine) {
        line = curLine - newlines;
        size_t nl = text.rfind('\n', at);
        if (nl != std::string_view::npos)
          col = chars(text.substr(nl + 1, at - nl - 1)) + 1;
        else if (newlines == 0 && curCol > chars(after))
          col = curCol - chars(after);
        else
          line = 0;
      }
    }
    report("structure", "text content is not allowed here: FHIR XML carries values in value "
                        "attributes");
    if (line && !issues_.items.empty()) {
      issues_.items.back().line = line;
      issues_.items.back().column = col;
    }
  }

  const Registry& reg_;
  Document& doc_;
  Issues& issues_;
  const ParseOptions& opt_;
  std::string_view data_;
  PathTracker path_;
  std::vector<Frame> stack_;
  Node* root_ = nullptr;
  bool stopped_ = false;
  uint32_t skipDepth_ = 0;
  uint32_t xhtmlDepth_ = 0;
  Node* xhtmlNode_ = nullptr;
  XhtmlWriter xhtml_;
  std::string attrBuf_;
  size_t count_ = 0;
};

// --- XHTML canonicalization -----------------------------------------------------------

struct XhtmlCanon {
  xmlParserCtxtPtr ctxt = nullptr;
  XhtmlWriter writer;
  std::string error;
  int depth = 0;
  bool sawRoot = false;
  bool sortAttributes = false;

  void fail(std::string msg) {
    if (!error.empty()) return;
    error = std::move(msg);
    if (ctxt) xmlStopParser(ctxt);
  }
};

// --- element model → FHIR XML ---------------------------------------------------------

class XmlWriter {
 public:
  XmlWriter(const WriteOptions& opt, Issues& issues) : pretty_(opt.pretty), issues_(issues) {}

  void document(const Node& resource) {
    out_ += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    if (pretty_) out_ += '\n';
    resourceElement(resource, 0, true);
    if (pretty_) out_ += '\n';
  }
  std::string take() { return std::move(out_); }
  bool ok() const { return ok_; }

 private:
  void indent(int depth) {
    if (!pretty_) return;
    out_ += '\n';
    out_.append(static_cast<size_t>(depth) * 2, ' ');
  }

  void resourceElement(const Node& n, int depth, bool root) {
    out_ += '<';
    out_ += n.type->name;
    if (root) {
      out_ += " xmlns=\"";
      out_ += detail::kFhirNs;
      out_ += '"';
    }
    content(n, n.type->name, depth);
  }

  // Writes attributes, then children or "/>", closing with </name>.
  void content(const Node& n, std::string_view name, int depth) {
    bool hasElements = false;
    for (const Node* c : n.children) {
      if (c->def->xmlAttr && c->hasValue) {
        out_ += ' ';
        out_ += c->def->name;
        out_ += "=\"";
        detail::appendXmlEscapedAttr(out_, c->value);
        out_ += '"';
      } else {
        hasElements = true;
      }
    }
    if (n.isPrimitive() && n.hasValue) {
      out_ += " value=\"";
      detail::appendXmlEscapedAttr(out_, n.value);
      out_ += '"';
    }
    if (!hasElements) {
      out_ += "/>";
      return;
    }
    out_ += '>';
    for (const Node* c : n.children) {
      if (c->def->xmlAttr && c->hasValue) continue;
      indent(depth + 1);
      element(*c, depth + 1);
    }
    indent(depth);
    out_ += "</";
    out_ += name;
    out_ += '>';
  }

  void element(const Node& n, int depth) {
    if (n.def->isResource) {
      out_ += '<';
      out_ += n.def->name;
      out_ += '>';
      indent(depth + 1);
      resourceElement(n, depth + 1, false);
      indent(depth);
      out_ += "</";
      out_ += n.def->name;
      out_ += '>';
      return;
    }
    if (n.isPrimitive() && n.type->jsonKind == JsonKind::Xhtml) {
      std::string canon, error;
      if (!canonicalXhtml(n.value, canon, error)) {
        issues_.add(Issue{Severity::Error, "invalid",
                          "the narrative is not well-formed XHTML: " + error, "", n.line,
                          n.column});
        ok_ = false;
        return;
      }
      out_ += canon;
      return;
    }
    std::string name = propertyName(*n.def, *n.type);
    out_ += '<';
    out_ += name;
    content(n, name, depth);
  }

  bool pretty_;
  Issues& issues_;
  std::string out_;
  bool ok_ = true;
};

}  // namespace

ParseResult parseXml(const Registry& registry, std::string_view source,
                     const ParseOptions& options) {
  ParseResult result;
  XmlBuilder builder(registry, result.doc, result.issues, options);
  builder.run(source);
  result.doc.setRoot(builder.root());
  return result;
}

bool writeXml(const Node& resource, std::string& out, Issues& issues, const WriteOptions& options) {
  XmlWriter w(options, issues);
  w.document(resource);
  out = w.take();
  return w.ok();
}

bool canonicalXhtml(std::string_view xhtml, std::string& out, std::string& error,
                    bool sortAttributes) {
  XhtmlCanon canon;
  canon.sortAttributes = sortAttributes;
  xmlSAXHandler sax;
  std::memset(&sax, 0, sizeof sax);
  sax.startElementNs = [](void* u, const xmlChar* l, const xmlChar* p, const xmlChar* uri,
                          int nns, const xmlChar** ns, int na, int, const xmlChar** a) {
    auto* c = static_cast<XhtmlCanon*>(u);
    if (!c->error.empty()) return;
    if (c->depth == 0) {
      if (c->sawRoot) return c->fail("more than one root element");
      c->sawRoot = true;
      if (sv(l) != "div") return c->fail("the root element must be a <div>, not <" + std::string(sv(l)) + ">");
      if (sv(uri) != detail::kXhtmlNs)
        return c->fail("the <div> must be in the XHTML namespace (xmlns=\"" + std::string(detail::kXhtmlNs) + "\")");
    }
    if (++c->depth > 256) return c->fail("nested too deeply");
    auto attrs = xhtmlAttrs(na, a);
    if (c->sortAttributes)
      std::sort(attrs.begin(), attrs.end(), [](const auto& x, const auto& y) {
        return std::tie(x.prefix, x.localname) < std::tie(y.prefix, y.localname);
      });
    c->writer.start(sv(p), sv(l), nsDecls(nns, ns), attrs);
  };
  sax.endElementNs = [](void* u, const xmlChar* l, const xmlChar* p, const xmlChar*) {
    auto* c = static_cast<XhtmlCanon*>(u);
    if (!c->error.empty()) return;
    --c->depth;
    c->writer.end(sv(p), sv(l));
  };
  sax.characters = [](void* u, const xmlChar* ch, int len) {
    auto* c = static_cast<XhtmlCanon*>(u);
    if (!c->error.empty()) return;
    std::string_view t(reinterpret_cast<const char*>(ch), static_cast<size_t>(len));
    if (c->depth == 0) {
      if (t.find_first_not_of(" \t\r\n") != std::string_view::npos)
        c->fail("text outside the root element");
      return;
    }
    c->writer.text(t);
  };
  sax.cdataBlock = sax.characters;
  sax.internalSubset = [](void* u, const xmlChar*, const xmlChar*, const xmlChar*) {
    static_cast<XhtmlCanon*>(u)->fail("a DOCTYPE is not allowed");
  };
  sax.serror = [](void* u, xmlErrorPtr e) {
    if (!e || e->level == XML_ERR_WARNING) return;
    std::string msg = e->message ? e->message : "XML error";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    static_cast<XhtmlCanon*>(u)->fail(msg + " (line " + std::to_string(e->line) + ")");
  };
  if (xhtml.size() > INT32_MAX || !runSax(xhtml, canon, sax)) {
    error = "the XML parser could not be started";
    return false;
  }
  if (canon.error.empty() && !canon.sawRoot) canon.error = "no root element";
  if (!canon.error.empty()) {
    error = canon.error;
    return false;
  }
  out = std::move(canon.writer.str());
  return true;
}

}  // namespace hoa::fhir
