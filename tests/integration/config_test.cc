// Configuration: every flag also comes from a config file ([section] per subcommand, the
// flag's long name as key) and from QRPAY_<FLAG>; the command line wins over the file, which
// wins over the environment (README, "Commands and configuration"). Observed through
// `qrpay token issue --create`, whose --data-dir decides where jwt.key is created.
// Also a newcomer's first hour: usage and --version, help texts, token issue refusing a data
// directory that is not the server's, and the quick start pasted more than once.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "base/testing/eventually.h"
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
        for (const char* arg :
             {"token", "issue", "--role", "merchant", "--sub", "m1", "--create"}) {
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
    // Runs `qrpay args...`; its exit status and everything it printed (stdout and stderr).
    std::pair<int, std::string> run(std::vector<std::string> args) {
        args.insert(args.begin(), qrpay_binary());
        std::string log = dir_.path() + "/run-" + std::to_string(++runs_) + ".log";
        int status = Process(args, log).wait_exit();
        std::ifstream in(log);
        std::stringstream text;
        text << in.rdbuf();
        return {status, text.str()};
    }
    int runs_ = 0;

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

TEST_F(Configuration, ConfigFileIsAcceptedAfterTheSubcommandToo) {
    std::string file = config_file(dir_.path() + "/file");
    ASSERT_EQ(issue({}, {"--config", file}, {{"QRPAY_DATA_DIR", dir_.path() + "/env"}}), 0);
    EXPECT_TRUE(has_key("file"));
    EXPECT_FALSE(has_key("env"));
    auto missing =
        run({"token", "issue", "--role", "merchant", "--sub", "m1", "--create", "--data-dir",
             dir_.path() + "/other", "--config", dir_.path() + "/missing.toml"});
    EXPECT_NE(missing.first, 0) << "a missing file is refused in this position too";
    EXPECT_NE(missing.second.find("missing.toml"), std::string::npos) << missing.second;
    EXPECT_FALSE(has_key("other"));
}

// `qrpay token issue` signs with the key of the server's data directory; a typo must not
// create a new key that no server knows (the token would then fail with a signature error).
TEST_F(Configuration, TokenIssueRefusesADataDirectoryThatDoesNotExist) {
    auto [status, output] = run({"token", "issue", "--role", "merchant", "--sub", "m1",
                                 "--data-dir", dir_.path() + "/typo"});
    EXPECT_NE(status, 0);
    EXPECT_NE(output.find("does not exist"), std::string::npos) << output;
    EXPECT_NE(output.find("--create"), std::string::npos) << output;
    EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/typo"));
}

// A subject the server would refuse (here a space) is not signed in the first place.
TEST_F(Configuration, TokenIssueRefusesASubjectTheServerWouldRefuse) {
    auto [status, output] = run({"token", "issue", "--role", "merchant", "--sub", "shop one",
                                 "--data-dir", dir_.path(), "--create"});
    EXPECT_NE(status, 0);
    EXPECT_NE(output.find("--sub must be"), std::string::npos) << output;
    EXPECT_EQ(std::count(output.begin(), output.end(), '.'), 0) << "no JWT: " << output;
}

TEST_F(Configuration, TokenIssueRefusesADataDirectoryWithoutAKey) {
    std::filesystem::create_directories(dir_.path() + "/empty");
    auto [status, output] = run({"token", "issue", "--role", "merchant", "--sub", "m1",
                                 "--data-dir", dir_.path() + "/empty"});
    EXPECT_NE(status, 0);
    EXPECT_NE(output.find("jwt.key does not exist"), std::string::npos) << output;
    EXPECT_NE(output.find("qrpay serve"), std::string::npos) << output;
    EXPECT_FALSE(has_key("empty"));
}

TEST_F(Configuration, TokenIssueUsesAnExistingKeyAndCreatesOneOnlyWhenAsked) {
    ASSERT_EQ(issue({}, {"--data-dir", dir_.path() + "/made"}), 0);  // with --create
    ASSERT_TRUE(has_key("made"));
    std::ifstream before_file(dir_.path() + "/made/jwt.key");
    std::string before((std::istreambuf_iterator<char>(before_file)), {});
    auto [status, output] = run({"token", "issue", "--role", "consumer", "--sub", "c1",
                                 "--data-dir", dir_.path() + "/made"});
    EXPECT_EQ(status, 0) << output;
    EXPECT_EQ(std::count(output.begin(), output.end(), '.'), 2) << "one JWT: " << output;
    std::ifstream after_file(dir_.path() + "/made/jwt.key");
    std::string after((std::istreambuf_iterator<char>(after_file)), {});
    EXPECT_EQ(before, after);
}

TEST_F(Configuration, NoSubcommandShowsUsageListingTheSubcommands) {
    auto [status, output] = run({});
    EXPECT_NE(status, 0);
    EXPECT_NE(output.find("A subcommand is required"), std::string::npos) << output;
    EXPECT_NE(output.find("Subcommands:"), std::string::npos) << output;
    for (const char* command : {"serve", "agency-sim", "token", "projection", "bench"}) {
        EXPECT_NE(output.find("\n  " + std::string(command) + " "), std::string::npos)
            << command << " listed in\n"
            << output;
    }
    auto token = run({"token"});
    EXPECT_NE(token.first, 0);
    EXPECT_NE(token.second.find("issue"), std::string::npos) << token.second;
}

TEST_F(Configuration, VersionPrintsTheProjectVersion) {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"--version"}, {"serve", "--version"}}) {
        auto [status, output] = run(args);
        EXPECT_EQ(status, 0) << args.front() << ": " << output;
        EXPECT_TRUE(std::regex_match(output, std::regex("qrpay [0-9]+\\.[0-9]+\\.[0-9]+\n")))
            << output;
    }
}

// Every option that takes a value shows its default one way, CLI11's "TYPE=DEFAULT" (or says
// REQUIRED); no default is written into a description; test-only flags are not listed.
TEST_F(Configuration, EveryHelpShowsEveryDefaultOneWayAndNoTestOnlyFlag) {
    const std::vector<std::vector<std::string>> commands = {{"serve"},
                                                            {"agency-sim"},
                                                            {"token", "issue"},
                                                            {"bench", "load"},
                                                            {"bench", "fill"},
                                                            {"bench", "startup"},
                                                            {"projection", "rebuild"},
                                                            {"projection", "bench"}};
    const std::regex type_then_rest("^ *(-[-a-zA-Z0-9,]+) +([A-Z]{2,}.*)$");
    const std::regex default_in_text("\\((default|[0-9]+(ms|s|m|h))\\b");
    std::map<std::string, std::string> lines;  // "command --flag" -> its help line
    for (auto args : commands) {
        std::string command = args.size() == 1 ? args[0] : args[0] + " " + args[1];
        args.emplace_back("--help");
        auto [status, output] = run(args);
        ASSERT_EQ(status, 0) << command << ": " << output;
        std::istringstream in(output);
        std::string line;
        int value_options = 0;
        while (std::getline(in, line)) {
            EXPECT_FALSE(std::regex_search(line, default_in_text)) << command << ": " << line;
            std::smatch match;
            if (!std::regex_match(line, match, type_then_rest)) {
                continue;
            }
            ++value_options;
            lines[command + " " + match[1].str()] = line;
            const std::string rest = match[2].str();
            EXPECT_TRUE(rest.find('=') != std::string::npos ||
                        rest.find("REQUIRED") != std::string::npos)
                << command << ": no default shown: " << line;
        }
        EXPECT_GE(value_options, 2) << command << ": " << output;
        for (const char* test_only : {"--projection-fault", "--journal-fault", "--agency-fault"}) {
            EXPECT_EQ(output.find(test_only), std::string::npos) << command << ": " << test_only;
        }
    }
    const std::map<std::string, std::string> expected = {
        {"serve --snapshot-every", "=100"},    {"serve --code-ttl", "=5m"},
        {"serve --agency-url", "=\"\""},       {"serve --sse-subscribers-max", "=512"},
        {"bench load --cancel-share", "=0.1"}, {"token issue --ttl", "=24h"},
        {"agency-sim --latency", "=0ms"},      {"serve --business-time-zone", "=Asia/Tokyo"}};
    for (const auto& [option, shown] : expected) {
        ASSERT_TRUE(lines.contains(option)) << option;
        EXPECT_NE(lines[option].find(shown), std::string::npos) << lines[option];
    }
}

// The quick start that `qrpay serve --quickstart` prints works when pasted again, and again
// after a restart on the same data: its Idempotency-Keys name the transaction.
TEST(QuickStart, PrintedCommandsWorkEveryTimeTheyArePasted) {
    if (std::system("command -v curl >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "curl is not installed";
    }
    TempDir dir;
    Server server(dir.path() + "/serve", {"--quickstart"});
    server.start();
    std::string printed;
    ASSERT_TRUE(qrpay::testing::eventually(
        [&] {
            std::ifstream in(server.process().log_path());
            std::stringstream text;
            text << in.rdbuf();
            printed = text.str();
            return printed.find("Idempotency-Key: cancel-") != std::string::npos;
        },
        std::chrono::seconds(120), std::chrono::milliseconds(20)))
        << printed;
    std::size_t begin = printed.find("export QRPAY=");
    std::size_t end = printed.find('\n', printed.find("Idempotency-Key: cancel-"));
    ASSERT_NE(begin, std::string::npos) << printed;
    std::string script = dir.path() + "/quickstart.sh";
    std::ofstream(script) << printed.substr(begin, end - begin) << "\n";
    auto paste = [&] { return run_and_capture("bash " + script + " 2>&1"); };
    for (int time = 1; time <= 3; ++time) {
        if (time == 3) {
            ASSERT_EQ(server.terminate(), 0);
            server.start();
        }
        std::string output = paste();
        EXPECT_EQ(output.find("idempotency_key_reused"), std::string::npos)
            << "paste " << time << ":\n"
            << output;
        EXPECT_NE(output.find("\"status\":\"completed\""), std::string::npos)
            << "paste " << time << ":\n"
            << output;
        EXPECT_NE(output.find("\"status\":\"cancelled\""), std::string::npos)
            << "paste " << time << ":\n"
            << output;
    }
}

}  // namespace
}  // namespace qrpay::harness
