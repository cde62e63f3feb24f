#pragma once
// Kubernetes JSON as the API server writes it, for the client tests.
#include <string>
#include <vector>

namespace qpu::watch::testing {

inline std::string job_json(const std::string& name, const std::string& rv, const std::string& ns = "quay",
                            bool with_kind = true) {
  std::string kind = with_kind ? R"("kind":"Job","apiVersion":"batch/v1",)" : "";
  return "{" + kind + R"("metadata":{"name":")" + name + R"(","namespace":")" + ns + R"(","uid":"u-)" + name +
         R"(","resourceVersion":")" + rv + R"(","labels":{"app":"x"}},"spec":{"backoffLimit":0},"status":{"active":1}})";
}

inline std::string watch_line(const std::string& type, const std::string& object) {
  return R"({"type":")" + type + R"(","object":)" + object + "}\n";
}

inline std::string bookmark_line(const std::string& rv) {
  return watch_line("BOOKMARK", R"({"kind":"Job","apiVersion":"batch/v1","metadata":{"resourceVersion":")" + rv + R"("}})");
}

inline std::string expired_line() {
  return watch_line(
      "ERROR",
      R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (50)","reason":"Expired","code":410})j");
}

inline std::string job_list(const std::string& rv, const std::vector<std::string>& items, const std::string& cont = "") {
  std::string s = R"({"kind":"JobList","apiVersion":"batch/v1","metadata":{"resourceVersion":")" + rv + "\"";
  if (!cont.empty()) s += R"(,"continue":")" + cont + "\"";
  s += R"(},"items":[)";
  for (std::size_t i = 0; i < items.size(); ++i) s += (i ? "," : "") + items[i];
  return s + "]}";
}

}  // namespace qpu::watch::testing
