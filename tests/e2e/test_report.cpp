// The run report in a real browser: a tiny final run's and a tiny search's report.html rendered
// by headless Chromium (Debian's chromium, which scripts/test.sh installs for the tests), checked
// in the DOM the browser built, for console messages and for anything it would have to fetch,
// and photographed into the test's output folder (test-output/ beside the test binary).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using test::CliResult;
using test::concat;
using test::expect_one_error_line;
using test::read_text;
using test::run_cli;
using test::TempDir;

const char* kChromium = "/usr/bin/chromium";
// How a drawing stands in a report: an image of its SVG, never the file's text.
const char* kSvgImage = "src=\"data:image/svg+xml;base64,";

/// What the browser made of a page.
struct Rendered {
  std::string dom;                   // the DOM after loading (--dump-dom)
  std::vector<std::string> console;  // the page's console messages (errors, logs, uncaught)
  int status = -1;
};

/// Runs `command` through the shell; its standard output, and its status in `status`.
std::string capture(const std::string& command, int* status) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *status = ::pclose(p);
  return out;
}

/// Loads `page` in headless Chromium (a profile of its own in `scratch`); with `screenshot`, also
/// photographs it there.
Rendered render(const std::string& page, const std::string& scratch,
                const std::string& screenshot = "") {
  const std::string flags = std::string(kChromium) +
                            " --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage"
                            " --no-first-run --user-data-dir=" +
                            scratch + "/profile";
  Rendered r;
  const std::string log = scratch + "/chromium.log";
  r.dom = capture("timeout 120 " + flags + " --enable-logging=stderr --v=0 --dump-dom 'file://" +
                      page + "' 2>'" + log + "'",
                  &r.status);
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find(":CONSOLE") != std::string::npos) r.console.push_back(line);
  }
  if (!screenshot.empty()) {
    int status = 0;
    capture("timeout 120 " + flags + " --hide-scrollbars --window-size=1280,2400 --screenshot='" +
                screenshot + "' 'file://" + page + "' >/dev/null 2>&1",
            &status);
  }
  return r;
}

/// The element whose id is `id`, from its opening tag to its first `</figure>` or `</table>`.
std::string element(const std::string& dom, const std::string& id) {
  const auto at = dom.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  const auto open = dom.rfind('<', at);
  auto end = std::min(dom.find("</figure>", at), dom.find("</table>", at));
  return dom.substr(open, end == std::string::npos ? std::string::npos : end - open);
}

/// Every src= or href= of the page that is not inline (data:) or on the page (#...): what a
/// self-contained page must not have.
std::vector<std::string> fetched(const std::string& dom) {
  std::vector<std::string> out;
  const std::regex ref(R"re((?:src|href)\s*=\s*"([^"]*)")re");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), ref); it != std::sregex_iterator();
       ++it) {
    const std::string url = (*it)[1];
    if (url.rfind("data:", 0) != 0 && url.rfind("#", 0) != 0) out.push_back(url);
  }
  return out;
}

std::string output_folder() {
  const std::string dir = (fs::current_path() / "test-output").string();
  fs::create_directories(dir);
  return dir;
}

class ReportInBrowser : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kChromium))
      GTEST_SKIP() << "no " << kChromium << " (scripts/test.sh installs it)";
  }
};

TEST_F(ReportInBrowser, TheCheckSeesConsoleErrorsAndFetchedFiles) {
  // The checks below can fail: a page with a script error and a missing image trips both.
  TempDir tmp;
  std::ofstream(tmp.file("bad.html"))
      << "<html><body><img src=\"missing.png\"><script>console.error('boom');</script></body>"
         "</html>";
  const Rendered r = render(tmp.file("bad.html"), tmp.path());
  EXPECT_FALSE(r.console.empty()) << r.dom;
  EXPECT_EQ(fetched(r.dom), std::vector<std::string>{"missing.png"});
}

TEST_F(ReportInBrowser, AFinalRunsAndASearchsReportsLoadWithTheirCurvesAndDrawings) {
  TempDir tmp;
  fs::create_directories(tmp.file("data"));
  test::write_fake_cifar10(tmp.file("data"));
  const std::string train = tmp.file("train"), search = tmp.file("search");
  CliResult r = run_cli(
      test::tiny_train_args(tmp.file("data"), train, {"--num_epochs", "2", "--log_every", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  r = run_cli(
      concat(test::search_flags(tmp.file("data"), "micro"), {"--out", search, "--log_every", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const std::string shots = output_folder();

  const Rendered final_page =
      render(train + "/report.html", tmp.path(), shots + "/report-final-run.png");
  ASSERT_EQ(final_page.status, 0);
  EXPECT_TRUE(final_page.console.empty()) << final_page.console.front();
  EXPECT_TRUE(fetched(final_page.dom).empty()) << fetched(final_page.dom).front();
  const bool plots = fs::exists("/usr/bin/gnuplot");
  for (const char* id : {"plot-train-loss", "plot-train-acc", "plot-eval-acc", "plot-lr"}) {
    if (!plots) break;
    EXPECT_NE(element(final_page.dom, id).find("<svg"), std::string::npos) << id;
  }
  if (fs::exists("/usr/bin/dot")) {
    EXPECT_NE(element(final_page.dom, "drawing-arc").find(kSvgImage), std::string::npos);
  }
  EXPECT_NE(element(final_page.dom, "summary"), "");
  // A final run has no controller and no sampled architectures.
  for (const char* id : {"plot-ctrl-reward", "plot-ctrl-entropy", "plot-sampled-acc", "top-arcs"}) {
    EXPECT_EQ(element(final_page.dom, id), "") << id;
  }

  const Rendered search_page =
      render(search + "/report.html", tmp.path(), shots + "/report-search.png");
  ASSERT_EQ(search_page.status, 0);
  EXPECT_TRUE(search_page.console.empty()) << search_page.console.front();
  EXPECT_TRUE(fetched(search_page.dom).empty()) << fetched(search_page.dom).front();
  for (const char* id : {"plot-ctrl-reward", "plot-ctrl-entropy", "plot-sampled-acc"}) {
    if (!plots) break;
    EXPECT_NE(element(search_page.dom, id).find("<svg"), std::string::npos) << id;
  }
  // Its best architectures, and the drawing of the derived one.
  EXPECT_NE(element(search_page.dom, "top-arcs"), "");
  if (fs::exists("/usr/bin/dot")) {
    EXPECT_NE(element(search_page.dom, "drawing-best-arc").find(kSvgImage), std::string::npos);
  }
  EXPECT_GT(fs::file_size(shots + "/report-final-run.png"), 10000u);
  EXPECT_GT(fs::file_size(shots + "/report-search.png"), 10000u);
}

TEST_F(ReportInBrowser, DrawingsWithScriptsOrLinksRunAndFetchNothing) {
  // Hand-made arc.svg / best_arc.svg files: each payload used to come out verbatim and run.
  const std::vector<std::string> payloads = {
      R"svg(<svg xmlns="http://www.w3.org/2000/svg" onload="console.log('pwned-onload')"/>)svg",
      R"svg(<svg xmlns="http://www.w3.org/2000/svg"><image href="x.png" onerror="console.log('pwned-onerror')"/></svg>)svg",
      R"svg(<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"><animate attributeName="x" from="0" to="9" dur="1s" onbegin="console.log('pwned-onbegin')"/></rect></svg>)svg",
      R"svg(<svg xmlns="http://www.w3.org/2000/svg"><foreignObject width="9" height="9"><img xmlns="http://www.w3.org/1999/xhtml" src="y.png" onerror="console.log('pwned-img')"/></foreignObject></svg>)svg",
      R"svg(<svg xmlns="http://www.w3.org/2000/svg"><a href="jav&#x61;script:console.log('pwned-href')"><text y="9">x</text></a></svg>)svg",
      R"svg(<svg xmlns="http://www.w3.org/2000/svg"><style>@import url("http://127.0.0.1:9/pwned.css");</style></svg>)svg",
      R"svg(<svg xmlns="http://www.w3.org/2000/svg"><image href="http://127.0.0.1:9/pwned.png" width="9" height="9"/></svg>)svg",
      R"svg(<svg xmlns="http://www.w3.org/2000/svg"></svg><iframe srcdoc="&lt;script&gt;console.log('pwned-iframe')&lt;/script&gt;"></iframe><svg></svg>)svg"};
  TempDir tmp;
  fs::create_directories(tmp.file("data"));
  test::write_fake_cifar10(tmp.file("data"), 8);
  const std::string run = tmp.file("run");
  CliResult r = run_cli(test::tiny_train_args(tmp.file("data"), run, {"--noreport"}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  // Two payloads a page: one as the run's drawing, one as a search's.
  for (size_t i = 0; i < payloads.size(); i += 2) {
    SCOPED_TRACE(payloads[i]);
    std::ofstream(run + "/arc.svg") << payloads[i];
    std::ofstream(run + "/best_arc.svg") << payloads[i + 1];
    r = run_cli({"report", run});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const std::string html = read_text(run + "/report.html");
    EXPECT_EQ(html.find("pwned"), std::string::npos);  // the files' text is not in the page
    EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
    const Rendered page = render(run + "/report.html", tmp.path());
    ASSERT_EQ(page.status, 0);
    EXPECT_TRUE(page.console.empty()) << page.console.front();
    EXPECT_TRUE(fetched(page.dom).empty()) << fetched(page.dom).front();
    EXPECT_EQ(page.dom.find("<iframe"), std::string::npos);
    EXPECT_NE(element(page.dom, "drawing-arc").find(kSvgImage), std::string::npos);
    EXPECT_NE(element(page.dom, "drawing-best-arc").find(kSvgImage), std::string::npos);
  }
}

TEST(Report, AFifoADeviceOrADeepFileInTheFolderIsLeftOutNotWaitedFor) {
  // A FIFO for metrics.jsonl hung `enas report`, a link to /dev/zero grew it to 19.6 GB, a
  // result.json nested 400,000 deep crashed it (rc 139).
  TempDir tmp;
  fs::create_directories(tmp.file("data"));
  test::write_fake_cifar10(tmp.file("data"), 8);
  const std::string run = tmp.file("run");
  ASSERT_EQ(run_cli(test::tiny_train_args(tmp.file("data"), run, {"--noreport"})).exit_code, 0);
  fs::remove(run + "/metrics.jsonl");
  ASSERT_EQ(::mkfifo((run + "/metrics.jsonl").c_str(), 0600), 0);
  fs::create_symlink("/dev/zero", run + "/arcs.jsonl");
  std::ofstream(run + "/result.json") << std::string(400000, '[') << std::string(400000, ']');
  CliResult r = run_cli({"report", run}, 60);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.err.find("metrics.jsonl: it is not a regular file"), std::string::npos)
      << r.describe();
  EXPECT_NE(r.err.find("arcs.jsonl is a symbolic link"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("result.json is nested more than 64 deep"), std::string::npos)
      << r.describe();
  EXPECT_TRUE(fs::exists(run + "/report.html"));
}

TEST(Report, RebuildsAFolderAndRefusesWhatIsNoRun) {
  TempDir tmp;
  fs::create_directories(tmp.file("data"));
  test::write_fake_cifar10(tmp.file("data"));
  CliResult r = run_cli(test::tiny_train_args(tmp.file("data"), tmp.file("run"), {"--noreport"}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_FALSE(fs::exists(tmp.file("run/report.html")));  // --noreport
  r = run_cli({"report", tmp.file("run"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.last_json().at("reports")[0], tmp.file("run") + "/report.html");
  EXPECT_NE(read_text(tmp.file("run/report.html")).find("<html"), std::string::npos);
  expect_one_error_line(run_cli({"report", tmp.file("data")}),
                        {tmp.file("data"), "not a run folder"});
}

TEST(Report, ARunWithoutGraphvizOrGnuplotWarnsOnceAndFinishes) {
  TempDir tmp;
  fs::create_directories(tmp.file("data"));
  fs::create_directories(tmp.file("bin"));  // PATH holds nothing: no dot, no gnuplot
  test::write_fake_cifar10(tmp.file("data"));
  const std::string run = tmp.file("run");
  CliResult r;
  {
    test::ScopedPath path(tmp.file("bin"));
    r = run_cli(test::tiny_train_args(tmp.file("data"), run, {"--num_epochs", "2"}));
  }
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  // The drawing falls back to its Graphviz text, said once.
  EXPECT_TRUE(fs::exists(run + "/arc.dot"));
  EXPECT_FALSE(fs::exists(run + "/arc.svg"));
  size_t said = 0;
  for (size_t at = 0; (at = r.out.find("warning: Graphviz's dot", at)) != std::string::npos; ++at) {
    ++said;
  }
  EXPECT_EQ(said, 1u) << r.out;
  // The report is written without its curves, and says why on the page and once in the log.
  const std::string html = read_text(run + "/report.html");
  EXPECT_NE(html.find("id=\"no-gnuplot\""), std::string::npos);
  EXPECT_EQ(html.find("id=\"plot-train-loss\""), std::string::npos);
  EXPECT_NE(read_text(run + "/log.txt").find("warning: report: "), std::string::npos);
  EXPECT_NE(r.out.find("warning: report: "), std::string::npos);
}

}  // namespace
}  // namespace enas
