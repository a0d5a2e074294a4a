#include <grp.h>
#include <unistd.h>

#include <algorithm>

#include "collect/collect.hpp"
#include "collect/parsers.hpp"

namespace gpudoctor {

namespace {

bool is_gpu_node_name(const std::string& name) {
  // nvidia0..nvidia247 (one per GPU, minor = Device Minor)
  if (name.size() <= 6 || name.substr(0, 6) != "nvidia") return false;
  return std::all_of(name.begin() + 6, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool may_open(const struct stat& st, const UserInfo& user) {
  if (user.uid == 0) return true;
  unsigned need_owner = S_IRUSR | S_IWUSR, need_group = S_IRGRP | S_IWGRP, need_other = S_IROTH | S_IWOTH;
  if (st.st_uid == user.uid) return (st.st_mode & need_owner) == need_owner;
  if (std::find(user.gids.begin(), user.gids.end(), st.st_gid) != user.gids.end())
    return (st.st_mode & need_group) == need_group;
  return (st.st_mode & need_other) == need_other;
}

}  // namespace

void collect_device_nodes(CollectContext& ctx) {
  auto& snap = ctx.snapshot;
  // The invoking user, as the kernel sees it.
  snap.user.uid = static_cast<std::uint32_t>(::geteuid());
  snap.user.gids.push_back(static_cast<std::uint32_t>(::getegid()));
  int n = ::getgroups(0, nullptr);
  if (n > 0) {
    std::vector<gid_t> groups(static_cast<size_t>(n));
    n = ::getgroups(n, groups.data());
    for (int i = 0; i < n; ++i) {
      auto g = static_cast<std::uint32_t>(groups[static_cast<size_t>(i)]);
      if (std::find(snap.user.gids.begin(), snap.user.gids.end(), g) == snap.user.gids.end()) snap.user.gids.push_back(g);
    }
  }
  // Group names from the inspected system's /etc/group (the node's group) and this host's.
  std::map<std::uint32_t, std::string> names;
  if (auto text = ctx.fs.read_text("/etc/group", std::size_t{1} << 20)) names = parse::group_names(*text);
  for (auto g : snap.user.gids) {
    if (const group* gr = ::getgrgid(g)) snap.user.group_names.emplace_back(gr->gr_name);
    else snap.user.group_names.push_back(std::to_string(g));
  }

  std::vector<std::string> paths = {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"};
  std::vector<std::string> gpu_nodes;
  for (const auto& name : ctx.fs.list_dir("/dev"))
    if (is_gpu_node_name(name)) gpu_nodes.push_back("/dev/" + name);
  std::sort(gpu_nodes.begin(), gpu_nodes.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  paths.insert(paths.end(), gpu_nodes.begin(), gpu_nodes.end());
  paths.emplace_back("/dev/dxg");

  for (const auto& path : paths) {
    DeviceNode node;
    node.path = path;
    auto st = ctx.fs.stat(path);
    if (st) {
      node.exists = true;
      node.is_char_device = S_ISCHR(st->st_mode);
      node.mode = static_cast<std::uint32_t>(st->st_mode & 07777);
      node.uid = static_cast<std::uint32_t>(st->st_uid);
      node.gid = static_cast<std::uint32_t>(st->st_gid);
      auto it = names.find(node.gid.value_or(0));
      if (it != names.end()) node.group_name = it->second;
      else node.group_name = Fact<std::string>::unknown("gid not in /etc/group");
      if (ctx.fs.is_host()) {
        // access(2) also honours ACLs, which the mode bits do not show.
        node.accessible = ::access(path.c_str(), R_OK | W_OK) == 0;
      } else {
        node.accessible = may_open(*st, snap.user);
      }
    } else {
      node.mode = node.uid = node.gid = Fact<std::uint32_t>::unknown("node does not exist");
      node.group_name = Fact<std::string>::unknown("node does not exist");
      node.accessible = Fact<bool>::unknown("node does not exist");
    }
    if (node.exists || path == "/dev/nvidiactl" || path == "/dev/nvidia-uvm") snap.device_nodes.push_back(std::move(node));
  }
}

}  // namespace gpudoctor
