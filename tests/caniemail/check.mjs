// The alert e-mail against caniemail's data: which HTML/CSS features of the given pages some
// e-mail clients do not support (errors: "none") or support only in part (warnings).
//
//   node check.mjs outlook.* gmail.* apple-mail.* -- page.html [page.html …]
//
// Prints one JSON object: {client: {feature title: {support, count, notes}}}, every page's
// findings merged; tests/test_alert_mail_phone.py decides which of them are acceptable.
import { readFileSync } from "node:fs";
import { caniemail } from "caniemail";

const args = process.argv.slice(2);
const split = args.indexOf("--");
if (split < 1 || split === args.length - 1) {
  console.error("usage: node check.mjs CLIENT-GLOB … -- PAGE.html …");
  process.exit(2);
}
const clients = args.slice(0, split);
const pages = args.slice(split + 1);

const report = {};
for (const page of pages) {
  const html = readFileSync(page, "utf8");
  const { issues } = caniemail({ clients, html });
  for (const [kind, byClient] of [["none", issues.errors], ["partial", issues.warnings]]) {
    for (const [client, found] of byClient) {
      const features = (report[client] ??= {});
      for (const issue of found) {
        const entry = (features[issue.title] ??= { support: kind, count: 0, notes: [] });
        if (kind === "none") entry.support = "none"; // an error outweighs a warning
        entry.count += 1;
        for (const note of issue.notes ?? []) {
          if (!entry.notes.includes(note)) entry.notes.push(note);
        }
      }
    }
  }
}
process.stdout.write(JSON.stringify(report, null, 1) + "\n");
