// Services: a clusterIP in 127.0.0.0/8 and, per port, a TCP forwarder listening on
// clusterIP:port that connects each accepted client to one ready pod matching the selector
// (podIP:targetPort), which is what kube-proxy does in a cluster. Pods get the service names in
// a generated /etc/hosts and the NAME_SERVICE_HOST/PORT variables of their namespace.
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <random>

#include <boost/asio/write.hpp>

#include "object_meta.hpp"
#include "runtime.hpp"

namespace kube_sim::runtime {
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct service_proxy {
  explicit service_proxy(net::io_context& io) : acceptor(io) {}
  tcp::acceptor acceptor;
  std::string ns;
  std::string ip;
  json selector;
  json target_port;
  bool closed = false;
};

namespace {

// Copies bytes both ways until either side closes; the pair owns itself through shared_ptrs.
class tcp_pipe : public std::enable_shared_from_this<tcp_pipe> {
 public:
  tcp_pipe(tcp::socket client, tcp::socket backend) : client_(std::move(client)), backend_(std::move(backend)) {}
  void start(const tcp::endpoint& to) {
    backend_.async_connect(to, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return self->close();
      self->pump(self->client_, self->backend_, self->up_);
      self->pump(self->backend_, self->client_, self->down_);
    });
  }

 private:
  void pump(tcp::socket& from, tcp::socket& to, std::array<char, 16384>& buffer) {
    from.async_read_some(net::buffer(buffer),
                         [self = shared_from_this(), &from, &to, &buffer](boost::system::error_code ec, std::size_t n) {
                           if (ec) return self->close();
                           net::async_write(to, net::buffer(buffer.data(), n),
                                            [self, &from, &to, &buffer](boost::system::error_code ec2, std::size_t) {
                                              if (ec2) return self->close();
                                              self->pump(from, to, buffer);
                                            });
                         });
  }
  void close() {
    boost::system::error_code ignored;
    client_.shutdown(tcp::socket::shutdown_both, ignored);
    backend_.shutdown(tcp::socket::shutdown_both, ignored);
    client_.close(ignored);
    backend_.close(ignored);
  }
  tcp::socket client_, backend_;
  std::array<char, 16384> up_{}, down_{};
};

bool labels_match(const json& selector, const json& labels) {
  if (!selector.is_object() || selector.empty()) return false;  // no selector: no managed endpoints
  for (const auto& [k, v] : selector.items())
    if (!labels.contains(k) || labels[k] != v) return false;
  return true;
}

std::string env_name(std::string name) {
  for (auto& ch : name) ch = ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

}  // namespace

std::string runtime::allocate_service_ip() {
  for (;; ++next_service_ip_) {
    const int n = next_service_ip_;
    const auto ip = "127." + std::to_string(block_) + "." + std::to_string(n / 254) + "." + std::to_string(n % 254 + 1);
    if (used_ips_.insert(ip).second) return ip;
  }
}

std::string runtime::allocate_pod_ip() {
  for (;; ++next_pod_ip_) {
    const int n = next_pod_ip_;
    const auto ip = "127." + std::to_string(block_) + "." + std::to_string(64 + n / 254) + "." + std::to_string(n % 254 + 1);
    if (!used_ips_.contains(ip)) {
      ++next_pod_ip_;
      return ip;
    }
  }
}

void runtime::sync_services() {
  std::set<std::string> wanted;
  for (const auto& svc : list("services")) {
    const auto ns = object_namespace(svc), name = object_name(svc), uid = meta_string(svc, "uid");
    const auto& spec = svc["spec"];
    const auto ip = spec.value("clusterIP", "");
    if (spec.value("type", "ClusterIP") == "ExternalName" || ip == "None") continue;
    // The store hands out 127.1.x.y in every kube-sim alike; parallel simulators on one machine
    // would then fight over clusterIP:port, so each runtime moves its Services into its own
    // 127.B.0.0/16 block on first sight (a client may see the store's address for an instant).
    if (ip.empty() || !ip.starts_with("127." + std::to_string(block_) + ".")) {
      const auto fresh = allocate_service_ip();
      merge_main("services", ns, name, {{"spec", {{"clusterIP", fresh}, {"clusterIPs", json::array({fresh})}}}});
      continue;
    }
    used_ips_.insert(ip);
    for (const auto& port : spec.value("ports", json::array())) {
      const int number = port.value("port", 0);
      const auto key = uid + "/" + ip + "/" + std::to_string(number);
      wanted.insert(key);
      auto it = proxies_.find(key);
      if (it == proxies_.end()) {
        auto proxy = std::make_shared<service_proxy>(io_);
        boost::system::error_code ec;
        const tcp::endpoint at(net::ip::make_address(ip, ec), static_cast<unsigned short>(number));
        if (!ec) proxy->acceptor.open(at.protocol(), ec);
        if (!ec) proxy->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec) proxy->acceptor.bind(at, ec);
        if (!ec) proxy->acceptor.listen(net::socket_base::max_listen_connections, ec);
        if (ec == net::error::address_in_use) {
          // Another kube-sim on this machine holds that address: move to one of our block.
          const auto fresh = allocate_service_ip();
          merge_main("services", ns, name, {{"spec", {{"clusterIP", fresh}, {"clusterIPs", json::array({fresh})}}}});
          break;
        }
        if (ec) continue;
        proxy->ns = ns;
        proxy->ip = ip;
        it = proxies_.emplace(key, proxy).first;
        accept_on(proxy);
      }
      it->second->selector = spec.value("selector", json::object());
      it->second->target_port = port.contains("targetPort") ? port["targetPort"] : json(number);
    }
  }
  for (auto it = proxies_.begin(); it != proxies_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    it->second->closed = true;
    boost::system::error_code ignored;
    it->second->acceptor.close(ignored);
    it = proxies_.erase(it);
  }
}

void runtime::accept_on(const std::shared_ptr<service_proxy>& proxy) {
  proxy->acceptor.async_accept([this, proxy](boost::system::error_code ec, tcp::socket client) {
    if (ec || proxy->closed || stopped_) return;
    if (auto to = pick_endpoint(*proxy)) {
      auto pipe = std::make_shared<tcp_pipe>(std::move(client), tcp::socket(io_));
      pipe->start(*to);
    }  // no ready endpoint: the client is closed, as a Service without endpoints rejects it
    accept_on(proxy);
  });
}

std::optional<tcp::endpoint> runtime::pick_endpoint(const service_proxy& proxy) const {
  std::vector<tcp::endpoint> ready;
  for (const auto& [uid, p] : pods_) {
    if (p.ns != proxy.ns || p.terminating || p.finished) continue;
    if (!std::all_of(p.containers.begin(), p.containers.end(), [](const container_run& c) { return c.ready; })) continue;
    auto pod = get("pods", p.ns, p.name);
    if (!pod || !labels_match(proxy.selector, pod->value("/metadata/labels"_json_pointer, json::object()))) continue;
    int port = 0;
    if (proxy.target_port.is_number()) port = proxy.target_port;
    else
      for (const auto& c : p.containers)
        for (const auto& cp : c.spec.value("ports", json::array()))
          if (cp.value("name", "") == proxy.target_port) port = cp.value("containerPort", 0);
    boost::system::error_code ec;
    const auto address = net::ip::make_address(p.ip, ec);
    if (!ec && port > 0) ready.emplace_back(address, static_cast<unsigned short>(port));
  }
  if (ready.empty()) return std::nullopt;
  static std::minstd_rand pick(42);
  return ready[pick() % ready.size()];
}

std::string runtime::hosts_file(const std::string& ns, const std::string& pod_name, const std::string& pod_ip) const {
  std::string out = "# Generated by kube-sim for pod " + ns + "/" + pod_name +
                    ": service names -> clusterIPs.\n"
                    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
                    pod_ip + "\t" + pod_name + "\n";
  for (const auto& svc : list("services")) {
    const auto ip = svc.value("/spec/clusterIP"_json_pointer, std::string());
    if (ip.empty() || ip == "None") continue;
    const auto name = object_name(svc), sns = object_namespace(svc);
    out += ip + "\t";
    if (sns == ns) out += name + " ";
    out += name + "." + sns + " " + name + "." + sns + ".svc " + name + "." + sns + ".svc.cluster.local\n";
  }
  return out;
}

std::vector<std::string> runtime::service_env(const std::string& ns) const {
  std::vector<std::string> env;
  for (const auto& svc : list("services", ns)) {
    const auto ip = svc.value("/spec/clusterIP"_json_pointer, std::string());
    const auto ports = svc.value("/spec/ports"_json_pointer, json::array());
    if (ip.empty() || ip == "None" || ports.empty()) continue;
    const auto prefix = env_name(object_name(svc));
    const auto first = std::to_string(ports[0].value("port", 0));
    env.push_back(prefix + "_SERVICE_HOST=" + ip);
    env.push_back(prefix + "_SERVICE_PORT=" + first);
    env.push_back(prefix + "_PORT=tcp://" + ip + ":" + first);
    for (const auto& p : ports) {
      const auto port = std::to_string(p.value("port", 0));
      if (p.contains("name")) env.push_back(prefix + "_SERVICE_PORT_" + env_name(p["name"]) + "=" + port);
      const auto base = prefix + "_PORT_" + port + "_TCP";
      env.push_back(base + "=tcp://" + ip + ":" + port);
      env.push_back(base + "_PROTO=tcp");
      env.push_back(base + "_PORT=" + port);
      env.push_back(base + "_ADDR=" + ip);
    }
  }
  return env;
}

void runtime::refresh_hosts_files() {
  // Rewritten in place (same inode), so the bind mount inside running pods sees the change, and
  // only when it changes: a resolver reading it while it is rewritten may see part of it (a pod
  // that started in the pass that created its Service once found its hosts file empty). The new
  // text goes over the old before the file is cut to its length, so it is never empty.
  for (auto& [uid, p] : pods_) {
    if (p.finished) continue;
    auto text = hosts_file(p.ns, p.name, p.ip);
    if (text == p.hosts) continue;
    const int fd = ::open((p.dir / "hosts").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (::pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()) &&
        ::ftruncate(fd, static_cast<off_t>(text.size())) == 0)
      p.hosts = std::move(text);
    ::close(fd);
  }
}

}  // namespace kube_sim::runtime
