// Configuration: every flag also comes from a config file ([section] per subcommand, the
// flag's long name as key) and from QRPAY_<FLAG>; the command line wins over the file, which
// wins over the environment (README, "Commands and configuration"). Observed through
// `qrpay token issue`, whose --data-dir decides where jwt.key is created.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/harness/harness.h"

namespace qrpay::harness {
namespace {

class Configuration : public ::testing::Test {
protected:
    // Runs `qrpay [global...] token issue --role merchant --sub m1 [extra...]`; its exit code.
    int issue(std::vector<std::string> global,
              std::vector<std::string> extra,
              std::map<std::string, std::string> environment = {}) {
        std::vector<std::string> argv = {qrpay_binary()};
        argv.insert(argv.end(), global.begin(), global.end());
        for (const char* arg : {"token", "issue", "--role", "merchant", "--sub", "m1"}) {
            argv.emplace_back(arg);
        }
        argv.insert(argv.end(), extra.begin(), extra.end());
        Process process(argv, dir_.path() + "/issue.log", std::move(environment));
        return process.wait_exit();
    }
    std::string config_file(const std::string& data_dir) {
        std::string path = dir_.path() + "/qrpay.toml";
        std::ofstream(path) << "[token.issue]\ndata-dir = \"" << data_dir << "\"\n";
        return path;
    }
    bool has_key(const std::string& name) const {
        return std::filesystem::exists(dir_.path() + "/" + name + "/jwt.key");
    }

    TempDir dir_;
};

TEST_F(Configuration, EnvironmentVariableSetsAFlag) {
    ASSERT_EQ(issue({}, {}, {{"QRPAY_DATA_DIR", dir_.path() + "/env"}}), 0);
    EXPECT_TRUE(has_key("env"));
}

TEST_F(Configuration, ConfigFileSectionSetsAFlagAndBeatsTheEnvironment) {
    std::string file = config_file(dir_.path() + "/file");
    ASSERT_EQ(issue({"--config", file}, {}, {{"QRPAY_DATA_DIR", dir_.path() + "/env"}}), 0);
    EXPECT_TRUE(has_key("file"));
    EXPECT_FALSE(has_key("env"));
}

TEST_F(Configuration, ConfigFileComesFromQrpayConfigToo) {
    std::string file = config_file(dir_.path() + "/file");
    ASSERT_EQ(issue({}, {}, {{"QRPAY_CONFIG", file}}), 0);
    EXPECT_TRUE(has_key("file"));
}

TEST_F(Configuration, CommandLineBeatsFileAndEnvironment) {
    std::string file = config_file(dir_.path() + "/file");
    ASSERT_EQ(issue({"--config", file}, {"--data-dir", dir_.path() + "/flag"},
                    {{"QRPAY_DATA_DIR", dir_.path() + "/env"}}),
              0);
    EXPECT_TRUE(has_key("flag"));
    EXPECT_FALSE(has_key("file"));
    EXPECT_FALSE(has_key("env"));
}

TEST_F(Configuration, BadValuesAreRefusedAndCreateNothing) {
    EXPECT_NE(issue({}, {"--data-dir", dir_.path() + "/bad", "--ttl", "10"}), 0);
    EXPECT_NE(issue({}, {"--data-dir", dir_.path() + "/bad", "--ttl", "1d"}), 0);
    EXPECT_NE(issue({}, {"--data-dir", dir_.path() + "/bad"}, {{"QRPAY_TTL", "10"}}), 0);
    EXPECT_NE(issue({"--config", dir_.path() + "/missing.toml"}, {}), 0);
    EXPECT_FALSE(has_key("bad"));
}

}  // namespace
}  // namespace qrpay::harness
