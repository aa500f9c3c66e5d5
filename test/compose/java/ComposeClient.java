// pgjdbc running a composed statement (vector_search joined with a table) as a PreparedStatement.
// Run as a single-file program: java -cp /usr/share/java/postgresql.jar ComposeClient.java <url> <user> <password>
// Standard input has one execution per line: `<vector text>;<published true|false>;<limit>`.
// Each section prints `name=value` lines; a section that throws prints `name!error=<SQLSTATE> <message>`.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ParameterMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class ComposeClient {
  interface Section {
    void run() throws Exception;
  }

  static final String JOIN = "SELECT d.id, d.title, s.distance FROM vector_search('docs', ?, 30) AS s"
      + " JOIN documents d ON d.id = s.id WHERE d.published = ? ORDER BY s.distance, d.id LIMIT ?";

  private static String url;
  private static Properties login;
  private static final List<String[]> executions = new ArrayList<>();

  public static void main(String[] args) throws Exception {
    url = args[0];
    login = new Properties();
    login.setProperty("user", args[1]);
    login.setProperty("password", args[2]);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      if (!line.isEmpty()) executions.add(line.split(";"));
    }
    // The default threshold (5) runs the first executions unnamed, then switches to a named statement;
    // prepareThreshold=1 uses a named server-prepared statement from the first execution.
    section("default", () -> runAll("default", ""));
    section("threshold1", () -> runAll("threshold1", "prepareThreshold=1"));
    section("metadata", () -> metadata(""));
  }

  private static void section(String name, Section body) {
    try {
      body.run();
    } catch (Exception e) {
      String state = e instanceof SQLException ? ((SQLException) e).getSQLState() : e.getClass().getSimpleName();
      System.out.println(name + "!error=" + state + " " + String.valueOf(e.getMessage()).replace('\n', ' '));
    }
    System.out.flush();
  }

  private static Connection connect(String parameters) throws SQLException {
    String full = parameters.isEmpty() ? url : url + (url.contains("?") ? "&" : "?") + parameters;
    return DriverManager.getConnection(full, login);
  }

  /** Each execution's rows as id:title:distance, executions separated by |. */
  private static void runAll(String name, String parameters) throws SQLException {
    try (Connection c = connect(parameters); PreparedStatement ps = c.prepareStatement(JOIN)) {
      List<String> runs = new ArrayList<>();
      for (String[] execution : executions) {
        ps.setString(1, execution[0]);
        ps.setBoolean(2, Boolean.parseBoolean(execution[1]));
        ps.setInt(3, Integer.parseInt(execution[2]));
        List<String> rows = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) rows.add(rs.getString("id") + ":" + rs.getString("title") + ":" + rs.getFloat("distance"));
        }
        runs.add(String.join(",", rows));
      }
      System.out.println(name + "=" + String.join("|", runs));
    }
  }

  /** Row and parameter types from Describe, before any execution and after several. */
  private static void metadata(String parameters) throws SQLException {
    try (Connection c = connect(parameters); PreparedStatement ps = c.prepareStatement(JOIN)) {
      System.out.println("metadata.columns=" + columns(ps.getMetaData()));
      ParameterMetaData pm = ps.getParameterMetaData();
      List<String> types = new ArrayList<>();
      for (int i = 1; i <= pm.getParameterCount(); i++) types.add(pm.getParameterTypeName(i));
      System.out.println("metadata.parameters=" + String.join(",", types));
      String[] first = executions.get(0);
      for (int i = 0; i < 6; i++) {
        ps.setString(1, first[0]);
        ps.setBoolean(2, true);
        ps.setInt(3, 3);
        try (ResultSet rs = ps.executeQuery()) {
          if (i == 5) System.out.println("metadata.executed=" + columns(rs.getMetaData()));
        }
      }
    }
  }

  private static String columns(ResultSetMetaData md) throws SQLException {
    List<String> cols = new ArrayList<>();
    for (int i = 1; i <= md.getColumnCount(); i++) cols.add(md.getColumnName(i) + " " + md.getColumnTypeName(i));
    return String.join(",", cols);
  }
}
