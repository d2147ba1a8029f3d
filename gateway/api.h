#pragma once
// The gateway's HTTP interface: the FHIR REST API under /fhir, the clinic API under
// /clinic, and the health endpoints. One function routes a request; every response,
// errors included, is FHIR (an OperationOutcome) or the clinic API's JSON — never a
// bare error page.
//
// Thread-safety: an Api is immutable after construction; handle() runs on many threads.
#include <string>
#include <vector>

#include "gateway/http.h"
#include "gateway/workflow.h"

namespace hoa::gateway {

class Api {
 public:
  explicit Api(Services services) : s_(services), workflow_(services) {}

  // Routes and handles one request. Never throws: failures become a 500
  // OperationOutcome (and are logged by the caller).
  HttpResponse handle(const HttpRequest& req) const;

  const Services& services() const { return s_; }

 private:
  HttpResponse handleFhir(const HttpRequest& req, std::string_view path) const;
  HttpResponse handleClinic(const HttpRequest& req, std::string_view path) const;

  HttpResponse metadata(const HttpRequest& req, fhir::Format fmt) const;
  HttpResponse submit(const HttpRequest& req, clinic::Transport t, fhir::Format fmt) const;
  HttpResponse read(const HttpRequest& req, const std::string& type, const std::string& id, fhir::Format fmt) const;
  HttpResponse vread(const HttpRequest& req, const std::string& type, const std::string& id, const std::string& vid,
                     fhir::Format fmt) const;
  HttpResponse history(const HttpRequest& req, const std::string& type, const std::string& id, fhir::Format fmt) const;
  HttpResponse search(const HttpRequest& req, const std::string& type, fhir::Format fmt) const;
  HttpResponse auditSearch(const HttpRequest& req, fhir::Format fmt) const;
  HttpResponse update(const HttpRequest& req, const std::string& type, const std::string& id, fhir::Format fmt,
                      bool conditional = false) const;
  HttpResponse conditionalUpdate(const HttpRequest& req, const std::string& type, fhir::Format fmt) const;
  HttpResponse validate(const HttpRequest& req, fhir::Format fmt) const;
  HttpResponse deliveries(const HttpRequest& req, const std::vector<std::string>& parts) const;

  Services s_;
  Workflow workflow_;
};

}  // namespace hoa::gateway
