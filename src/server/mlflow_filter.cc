// MLflow search filters: a small tokenizer and a parser for "<kind>.<key> <op> <value>"
// clauses joined by AND (MLflow has no OR).
#include "server/mlflow_filter.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "common/utf8.h"

namespace ferry::server::mlflow {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsTimeAttribute(const std::string& key) {
  return key == "start_time" || key == "end_time" || key == "created" || key == "version_number" ||
         key == "creation_timestamp" || key == "last_updated_timestamp";
}

// Attribute names as MLflow accepts them (with its aliases).
std::optional<std::string> AttributeName(const std::string& key) {
  static const std::map<std::string, std::string> names = {
      {"status", "status"},
      {"run_id", "run_id"},
      {"run_name", "run_name"},
      {"user_id", "user_id"},
      {"artifact_uri", "artifact_uri"},
      {"lifecycle_stage", "lifecycle_stage"},
      {"start_time", "start_time"},
      {"end_time", "end_time"},
      {"created", "start_time"},
      {"Created", "start_time"},
      {"run name", "run_name"},
      {"Run name", "run_name"},
      // Experiments' searches see an experiment as a run with these.
      {"name", "name"},
      {"experiment_id", "run_id"},
      // The model registry's searches (registered models, versions, logged models).
      {"source_path", "source_path"},
      {"version_number", "version_number"},
      {"model_id", "model_id"},
      {"model_type", "model_type"},
      {"source_run_id", "source_run_id"},
      {"creation_timestamp", "creation_timestamp"},
      {"last_updated_timestamp", "last_updated_timestamp"},
      {"timestamp", "last_updated_timestamp"},
      {"creation_time", "start_time"},
      {"last_update_time", "end_time"},
  };
  auto it = names.find(key);
  if (it == names.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> KindName(const std::string& k) {
  std::string l = Lower(k);
  if (l == "metric" || l == "metrics") return "metrics";
  if (l == "param" || l == "params" || l == "parameter" || l == "parameters") return "params";
  if (l == "tag" || l == "tags") return "tags";
  if (l == "attribute" || l == "attributes" || l == "attr" || l == "run") return "attributes";
  return std::nullopt;
}

class Lexer {
 public:
  explicit Lexer(const std::string& s) : s_(s) {}
  void SkipSpace() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool Done() {
    SkipSpace();
    return i_ >= s_.size();
  }
  size_t pos() const { return i_; }
  char Peek() {
    SkipSpace();
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  // A word (letters, digits, _ . -) or a quoted string (' " `); quoted reports the quote.
  Result<std::string> Token(char* quote = nullptr) {
    SkipSpace();
    if (i_ >= s_.size()) return Status::InvalidArgument("unexpected end of the filter");
    char c = s_[i_];
    if (c == '\'' || c == '"' || c == '`') {
      if (quote) *quote = c;
      std::string out;
      ++i_;
      while (i_ < s_.size() && s_[i_] != c) {
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
        out += s_[i_++];
      }
      if (i_ >= s_.size())
        return Status::InvalidArgument("unterminated string " + std::string(1, c) + out);
      ++i_;
      return out;
    }
    if (quote) *quote = 0;
    size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' ||
                              s_[i_] == '.' || s_[i_] == '-' || s_[i_] == '+')) {
      ++i_;
    }
    if (i_ == start) return Status::InvalidArgument(std::string("unexpected '") + c + "'");
    return s_.substr(start, i_ - start);
  }
  // A comparison operator.
  Result<std::string> Operator() {
    SkipSpace();
    for (const char* op : {"!=", "<=", ">=", "=", "<", ">"}) {
      size_t n = std::char_traits<char>::length(op);
      if (s_.compare(i_, n, op) == 0) {
        i_ += n;
        return std::string(op);
      }
    }
    FERRY_ASSIGN_OR_RETURN(std::string w, Token());
    std::string u = w;
    for (auto& ch : u) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (u == "LIKE" || u == "ILIKE" || u == "IN") return u;
    if (u == "NOT") {
      FERRY_ASSIGN_OR_RETURN(std::string w2, Token());
      if (Lower(w2) == "in") return std::string("NOT IN");
    }
    return Status::InvalidArgument(
        "'" + w + "' is not a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN)");
  }
  void Advance() { ++i_; }

 private:
  const std::string& s_;
  size_t i_ = 0;
};

// "<kind>.<key>" where the key may be quoted: metrics.acc, params."a b", tags.`x.y`.
Result<std::pair<std::string, std::string>> Identifier(Lexer& lx) {
  char q = 0;
  FERRY_ASSIGN_OR_RETURN(std::string first, lx.Token(&q));
  std::string kind, key;
  if (q == 0) {
    size_t dot = first.find('.');
    if (dot == std::string::npos) {
      kind = "attributes";  // MLflow: a bare name is an attribute
      key = first;
    } else {
      kind = first.substr(0, dot);
      key = first.substr(dot + 1);
      if (key.empty()) {
        FERRY_ASSIGN_OR_RETURN(key, lx.Token(&q));
      }
    }
  } else {
    return Status::InvalidArgument(
        "expected <metrics|params|tags|attributes>.<key>, got a quoted '" + first + "'");
  }
  auto k = KindName(kind);
  if (!k)
    return Status::InvalidArgument("'" + kind + "' is not metrics, params, tags or attributes");
  if (*k == "attributes") {
    auto a = AttributeName(key);
    if (!a)
      return Status::InvalidArgument("'" + key +
                                     "' is not a run attribute (status, run_id, run_name, user_id, "
                                     "artifact_uri, start_time, end_time)");
    key = *a;
  }
  return std::make_pair(*k, key);
}

int CompareNumbers(double a, double b) { return a < b ? -1 : (a > b ? 1 : 0); }

bool Test(const std::string& op, int cmp) {
  if (op == "=") return cmp == 0;
  if (op == "!=") return cmp != 0;
  if (op == "<") return cmp < 0;
  if (op == "<=") return cmp <= 0;
  if (op == ">") return cmp > 0;
  return cmp >= 0;  // >=
}

}  // namespace

bool Like(const std::string& text, const std::string& pattern, bool ignore_case) {
  return WildcardMatch(pattern, text, '_', '%', ignore_case);
}

Result<Filter> ParseFilter(const std::string& text) {
  Filter f;
  Lexer lx(text);
  while (!lx.Done()) {
    const size_t at = lx.pos();
    auto clause = [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(auto id, Identifier(lx));
      Comparison c;
      c.kind = id.first;
      c.key = id.second;
      FERRY_ASSIGN_OR_RETURN(c.op, lx.Operator());
      if (c.op == "IN" || c.op == "NOT IN") {
        if (c.kind == "metrics") return Status::InvalidArgument("IN does not apply to metrics");
        if (lx.Peek() != '(') return Status::InvalidArgument(c.op + " needs a list: ('a', 'b')");
        lx.Advance();
        for (;;) {
          char q = 0;
          FERRY_ASSIGN_OR_RETURN(std::string v, lx.Token(&q));
          c.values.push_back(v);
          char n = lx.Peek();
          lx.Advance();
          if (n == ')') break;
          if (n != ',')
            return Status::InvalidArgument("expected ',' or ')' in the " + c.op + " list");
        }
      } else {
        char q = 0;
        FERRY_ASSIGN_OR_RETURN(std::string v, lx.Token(&q));
        c.values.push_back(v);
        const bool numeric =
            c.kind == "metrics" || (c.kind == "attributes" && IsTimeAttribute(c.key));
        if (numeric) {
          if (c.op == "LIKE" || c.op == "ILIKE")
            return Status::InvalidArgument(c.op + " does not apply to numbers");
          char* end = nullptr;
          c.number = std::strtod(v.c_str(), &end);
          if (q != 0 || v.empty() || *end != '\0') {
            return Status::InvalidArgument("'" + v + "' is not a number (" + c.kind + "." + c.key +
                                           " is compared as one)");
          }
        } else {
          if (q == 0)
            return Status::InvalidArgument("the value '" + v + "' must be quoted: '" + v + "'");
          if (c.op != "=" && c.op != "!=" && c.op != "LIKE" && c.op != "ILIKE") {
            return Status::InvalidArgument(c.op + " does not apply to " + c.kind +
                                           " (strings: =, !=, LIKE, ILIKE)");
          }
        }
      }
      f.all.push_back(std::move(c));
      return Status::Ok();
    }();
    if (!clause.ok()) {
      return Status::InvalidArgument("invalid filter at character " + std::to_string(at) + " of '" +
                                     text + "': " + clause.message());
    }
    if (lx.Done()) break;
    char q = 0;
    auto conj = lx.Token(&q);
    if (!conj.ok() || q != 0 || Lower(*conj) != "and") {
      return Status::InvalidArgument("invalid filter '" + text +
                                     "': clauses are joined with AND (MLflow has no OR)");
    }
  }
  return f;
}

bool Filter::Matches(const RunView& run) const {
  for (const auto& c : all) {
    if (c.kind == "metrics" || (c.kind == "attributes" && IsTimeAttribute(c.key))) {
      const auto& m = c.kind == "metrics" ? run.metrics : run.times;
      auto it = m.find(c.key);
      if (it == m.end() || std::isnan(it->second)) return false;
      if (!Test(c.op, CompareNumbers(it->second, c.number))) return false;
      continue;
    }
    const auto& m =
        c.kind == "params" ? run.params : (c.kind == "tags" ? run.tags : run.attributes);
    auto it = m.find(c.key);
    if (it == m.end()) return false;
    const std::string& v = it->second;
    bool ok = false;
    if (c.op == "=")
      ok = v == c.values[0];
    else if (c.op == "!=")
      ok = v != c.values[0];
    else if (c.op == "LIKE")
      ok = Like(v, c.values[0], false);
    else if (c.op == "ILIKE")
      ok = Like(v, c.values[0], true);
    else if (c.op == "IN")
      ok = std::find(c.values.begin(), c.values.end(), v) != c.values.end();
    else if (c.op == "NOT IN")
      ok = std::find(c.values.begin(), c.values.end(), v) == c.values.end();
    if (!ok) return false;
  }
  return true;
}

Result<std::vector<OrderBy>> ParseOrderBy(const std::vector<std::string>& clauses) {
  std::vector<OrderBy> out;
  for (const auto& text : clauses) {
    Lexer lx(text);
    auto id = Identifier(lx);
    if (!id.ok())
      return Status::InvalidArgument("invalid order_by '" + text + "': " + id.status().message());
    OrderBy o{id->first, id->second, true};
    if (!lx.Done()) {
      auto dir = lx.Token();
      std::string d = dir.ok() ? Lower(*dir) : "";
      if (d != "asc" && d != "desc")
        return Status::InvalidArgument("invalid order_by '" + text + "': ASC or DESC expected");
      o.ascending = d == "asc";
      if (!lx.Done())
        return Status::InvalidArgument("invalid order_by '" + text + "': text after " + *dir);
    }
    out.push_back(std::move(o));
  }
  return out;
}

bool Before(const std::vector<OrderBy>& order, const RunView& a, const RunView& b) {
  for (const auto& o : order) {
    if (o.kind == "metrics" || (o.kind == "attributes" && IsTimeAttribute(o.key))) {
      const auto& ma = o.kind == "metrics" ? a.metrics : a.times;
      const auto& mb = o.kind == "metrics" ? b.metrics : b.times;
      auto ia = ma.find(o.key), ib = mb.find(o.key);
      bool ha = ia != ma.end() && !std::isnan(ia->second),
           hb = ib != mb.end() && !std::isnan(ib->second);
      if (ha != hb) return ha;  // missing last
      if (!ha) continue;
      int c = CompareNumbers(ia->second, ib->second);
      if (c != 0) return o.ascending ? c < 0 : c > 0;
      continue;
    }
    const auto& ma = o.kind == "params" ? a.params : (o.kind == "tags" ? a.tags : a.attributes);
    const auto& mb = o.kind == "params" ? b.params : (o.kind == "tags" ? b.tags : b.attributes);
    auto ia = ma.find(o.key), ib = mb.find(o.key);
    bool ha = ia != ma.end(), hb = ib != mb.end();
    if (ha != hb) return ha;
    if (!ha) continue;
    int c = ia->second.compare(ib->second);
    if (c != 0) return o.ascending ? c < 0 : c > 0;
  }
  auto sa = a.times.count("start_time") ? a.times.at("start_time") : 0.0;
  auto sb = b.times.count("start_time") ? b.times.at("start_time") : 0.0;
  if (sa != sb) return sa > sb;
  return a.attributes.at("run_id") < b.attributes.at("run_id");
}

}  // namespace ferry::server::mlflow
