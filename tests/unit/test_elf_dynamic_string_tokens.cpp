// gd_elf: $ORIGIN, $LIB, $PLATFORM replaced as glibc's _dl_dst_substitute and fillin_rpath do.

#include <gtest/gtest.h>

#include "elf/dynamic_string_tokens.hpp"

using namespace gpudoctor::elf;

namespace {

DstValues torch_lib() {
  DstValues v;
  v.origin = "/venv/lib/python3.12/site-packages/torch/lib";
  v.lib = "lib/x86_64-linux-gnu";
  v.platform = "haswell";
  return v;
}

}  // namespace

TEST(ElfDynamicStringTokens, BothSpellings) {
  auto v = torch_lib();
  EXPECT_EQ(expand_dynamic_string_tokens("$ORIGIN/../../nvidia/cudnn/lib", v),
            "/venv/lib/python3.12/site-packages/torch/lib/../../nvidia/cudnn/lib");
  EXPECT_EQ(expand_dynamic_string_tokens("${ORIGIN}/x", v), "/venv/lib/python3.12/site-packages/torch/lib/x");
  EXPECT_EQ(expand_dynamic_string_tokens("/opt/$LIB/${PLATFORM}", v), "/opt/lib/x86_64-linux-gnu/haswell");
  EXPECT_EQ(expand_dynamic_string_tokens("$ORIGIN", v), "/venv/lib/python3.12/site-packages/torch/lib");
}

TEST(ElfDynamicStringTokens, NotATokenStaysVerbatim) {
  auto v = torch_lib();
  EXPECT_EQ(expand_dynamic_string_tokens("$ORIGINAL/x", v), "$ORIGINAL/x");  // identifier goes on
  EXPECT_EQ(expand_dynamic_string_tokens("$LIB_DIR", v), "$LIB_DIR");
  EXPECT_EQ(expand_dynamic_string_tokens("${ORIGIN", v), "${ORIGIN");  // no closing brace
  EXPECT_EQ(expand_dynamic_string_tokens("$HOME/x$", v), "$HOME/x$");
  EXPECT_EQ(expand_dynamic_string_tokens("/a/$", v), "/a/$");
  EXPECT_EQ(expand_dynamic_string_tokens("$ORIGIN-x", v), "/venv/lib/python3.12/site-packages/torch/lib-x");
  EXPECT_FALSE(has_dynamic_string_token("$ORIGINAL:$HOME"));
  EXPECT_TRUE(has_dynamic_string_token("a:${PLATFORM}"));
}

TEST(ElfDynamicStringTokens, UnknownOriginDropsThePath) {
  DstValues v;  // origin unknown
  EXPECT_FALSE(expand_dynamic_string_tokens("$ORIGIN/lib", v).has_value());
  EXPECT_EQ(expand_dynamic_string_tokens("/usr/$LIB", v), "/usr/lib64");  // upstream default
}

TEST(ElfDynamicStringTokens, PathListsAsFillinRpath) {
  auto v = torch_lib();
  EXPECT_EQ(expand_path_list("$ORIGIN:/usr/lib", v),
            (std::vector<std::string>{"/venv/lib/python3.12/site-packages/torch/lib", "/usr/lib"}));
  // Empty elements are the current folder; they stay.
  EXPECT_EQ(expand_path_list("/a::/b:", v), (std::vector<std::string>{"/a", "", "/b", ""}));
  // LD_LIBRARY_PATH also splits on ';'.
  EXPECT_EQ(expand_path_list("/a;/b:/c", v, ":;"), (std::vector<std::string>{"/a", "/b", "/c"}));
  EXPECT_EQ(expand_path_list("/a;/b", v), (std::vector<std::string>{"/a;/b"}));
  // An empty list is ignored as a whole; an element with an unknown $ORIGIN is dropped.
  EXPECT_TRUE(expand_path_list("", v).empty());
  DstValues no_origin;
  EXPECT_EQ(expand_path_list("$ORIGIN/x:/y", no_origin), std::vector<std::string>{"/y"});
}
