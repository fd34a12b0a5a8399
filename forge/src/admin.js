// Custom UI entry of the admin page (jira:adminPage ai-admin-page): the Forge transport, the charts, then
// the screen script shared with the Connect page.
import "../../static/js/transport-forge.js";
import "../../static/js/charts.js";
import "../../static/js/admin.js";
